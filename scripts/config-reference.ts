// The configuration reference of docs/operations.md, generated from the code: the zod config schemas of the
// services (variables, defaults, required), the variables the edge's config reader asks for, and every
// `process.env.X` read in service code. `npm run docs:config` rewrites the table in docs/operations.md;
// services/runtime/test/operations-docs.test.ts fails when the doc differs or a variable has no description.
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { z } from 'zod';
import { attachmentConfigSchema } from '@taskmesh/attachment/config';
import { auditConfigSchema } from '@taskmesh/audit/config';
import { boardConfigSchema } from '@taskmesh/board/config';
import { readEdgeConfig } from '@taskmesh/edge/edge-config';
import { identityConfigSchema } from '@taskmesh/identity/config';
import { notifyConfigSchema } from '@taskmesh/notify/config';
import { webhookConfigSchema } from '@taskmesh/webhook/config';
import { analyticsConfigSchema } from '@taskmesh/analytics/config';
import { orgConfigSchema } from '@taskmesh/org/config';
import { deadLetterCommandConfigSchema } from '@taskmesh/runtime/dead-letters-main';
import { shareConfigSchema } from '@taskmesh/share/config';
import { taskConfigSchema } from '@taskmesh/task/config';
import { variableDescriptions } from './config-descriptions.ts';

const root = resolve(import.meta.dirname, '..');
export const operationsDoc = join(root, 'docs', 'operations.md');
const START = '<!-- config-reference:start (npm run docs:config) -->';
const END = '<!-- config-reference:end -->';

const schemas: Record<string, z.ZodObject> = {
  identity: identityConfigSchema,
  org: orgConfigSchema,
  board: boardConfigSchema,
  task: taskConfigSchema,
  audit: auditConfigSchema,
  share: shareConfigSchema,
  notify: notifyConfigSchema,
  attachment: attachmentConfigSchema,
  webhook: webhookConfigSchema,
  analytics: analyticsConfigSchema,
  dlq: deadLetterCommandConfigSchema,
};

interface Variable {
  /** process -> default as shown */
  defaults: Map<string, string>;
}

function zodDefault(field: z.ZodType): string {
  const parsed = field.safeParse(undefined);
  if (!parsed.success) return 'required';
  return parsed.data === undefined ? 'unset' : String(parsed.data);
}

/** The variables the edge's reader asks for, whatever way it reads them. */
function edgeVariables(): string[] {
  const read = new Set<string>();
  const env = new Proxy({} as NodeJS.ProcessEnv, {
    get(_target, key) {
      if (typeof key === 'string') read.add(key);
      return undefined;
    },
  });
  readEdgeConfig(env);
  return [...read];
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'testing' || name === 'node_modules' ? [] : sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [path] : [];
  });
}

/** `process.env.X` reads in service code (not tests), by the process that makes them. */
function directReads(): Map<string, Set<string>> {
  const reads = new Map<string, Set<string>>();
  for (const service of readdirSync(join(root, 'services'))) {
    const src = join(root, 'services', service, 'src');
    if (!statSync(join(root, 'services', service)).isDirectory()) continue;
    let files: string[] = [];
    try {
      files = sourceFiles(src);
    } catch {
      continue;
    }
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      for (const match of text.matchAll(/process\.env(?:\.([A-Z][A-Z0-9_]*)|\[['"]([A-Z][A-Z0-9_]*)['"]\])/g)) {
        const name = match[1] ?? match[2]!;
        const by = service === 'runtime' ? 'all' : service === 'embedded' ? 'npm start' : relative(root, file).includes('seed') ? 'seed' : service;
        if (!reads.has(name)) reads.set(name, new Set());
        reads.get(name)!.add(by);
      }
    }
  }
  return reads;
}

function collect(): Map<string, Variable> {
  const variables = new Map<string, Variable>();
  const add = (name: string, process: string, value: string) => {
    if (!variables.has(name)) variables.set(name, { defaults: new Map() });
    variables.get(name)!.defaults.set(process, value);
  };
  for (const [process, schema] of Object.entries(schemas)) {
    for (const [name, field] of Object.entries(schema.shape)) add(name, process, zodDefault(field as z.ZodType));
  }
  for (const name of edgeVariables()) add(name, 'edge', variableDescriptions[name]?.default ?? 'unset');
  // Variables read straight from process.env that no schema or reader above declares (LOG_LEVEL, OTEL_*…).
  for (const [name, by] of directReads()) {
    if (variables.has(name)) continue;
    for (const process of by) add(name, process, variableDescriptions[name]?.default ?? 'unset');
  }
  return variables;
}

const escape = (text: string) => text.replaceAll('|', '\\|');

function defaultCell(defaults: Map<string, string>): string {
  const byValue = new Map<string, string[]>();
  for (const [process, value] of defaults) byValue.set(value, [...(byValue.get(value) ?? []), process]);
  const [main, ...others] = [...byValue.entries()].sort((a, b) => b[1].length - a[1].length);
  const show = (value: string) => (value === 'required' || value === 'unset' ? value : `\`${value}\``);
  return [show(main![0]), ...others.map(([value, processes]) => `${processes.join(', ')}: ${show(value)}`)].join('; ');
}

/** The reference table; throws naming every variable the code reads that has no description. */
export function renderConfigReference(): string {
  const variables = collect();
  const undocumented = [...variables.keys()].filter((name) => !variableDescriptions[name]);
  if (undocumented.length > 0) {
    throw new Error(`describe ${undocumented.join(', ')} in scripts/config-descriptions.ts, then run npm run docs:config`);
  }
  const rows = [...variables.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, variable]) => {
      const processes = [...variable.defaults.keys()];
      const usedBy = processes.includes('all') ? 'all' : processes.sort().join(', ');
      return `| \`${name}\` | ${usedBy} | ${escape(defaultCell(variable.defaults))} | ${escape(variableDescriptions[name]!.meaning)} |`;
    });
  return ['| variable | read by | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

/** The doc with its reference section replaced by `table`. */
export function withReference(doc: string, table: string): string {
  const start = doc.indexOf(START);
  const end = doc.indexOf(END);
  if (start < 0 || end < start) throw new Error(`${operationsDoc} lacks the markers ${START} … ${END}`);
  return `${doc.slice(0, start + START.length)}\n${table}\n${doc.slice(end)}`;
}

if (import.meta.main) {
  const doc = readFileSync(operationsDoc, 'utf8');
  const updated = withReference(doc, renderConfigReference());
  if (updated !== doc) writeFileSync(operationsDoc, updated);
  process.stdout.write(`${relative(root, operationsDoc)}: configuration reference ${updated === doc ? 'up to date' : 'rewritten'}\n`);
}
