/**
 * google.api.http path templates (the grammar in google/api/http.proto):
 *
 *   Template = "/" Segments [ Verb ] ;
 *   Segments = Segment { "/" Segment } ;
 *   Segment  = "*" | "**" | LITERAL | Variable ;
 *   Variable = "{" FieldPath [ "=" Segments ] "}" ;
 *   FieldPath = IDENT { "." IDENT } ;
 *   Verb     = ":" LITERAL ;
 *
 * A template is flattened into a list of segment keys plus the variables that cover index ranges of
 * that list, the same representation Envoy's path matcher builds its trie from.
 */

/** One segment of a flattened template: a literal, `*` (one segment) or `**` (any number of segments). */
export type SegmentKey = { kind: 'literal'; value: string } | { kind: 'single' } | { kind: 'multi' };

/** A `{field.path=...}` variable covering segments [start, end) of the template. */
export interface TemplateVariable {
  fieldPath: string[];
  start: number;
  /** Exclusive end index into the template's segments (an open variable ends `tail` parts before the end of the request). */
  end: number;
  /** True when the variable contains `**` and so matches a variable number of segments. */
  open: boolean;
  /** For an open variable, how many request parts follow it (the segments after it plus the verb). */
  tail: number;
}

export interface PathTemplate {
  source: string;
  segments: SegmentKey[];
  variables: TemplateVariable[];
  /** Custom verb after the last `:`, e.g. `signUp` in `/v1/auth:signUp`; empty when absent. */
  verb: string;
}

export class PathTemplateError extends Error {
  constructor(template: string, reason: string) {
    super(`invalid path template ${JSON.stringify(template)}: ${reason}`);
    this.name = 'PathTemplateError';
  }
}

const identPattern = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Parses a google.api.http path template; throws PathTemplateError on anything the grammar rejects. */
export function parsePathTemplate(source: string): PathTemplate {
  if (!source.startsWith('/')) throw new PathTemplateError(source, 'must start with "/"');
  let body = source.slice(1);
  let verb = '';
  // The verb is the text after the last ':' that is outside any variable braces.
  const lastColon = findVerbColon(body);
  if (lastColon >= 0) {
    verb = body.slice(lastColon + 1);
    body = body.slice(0, lastColon);
    if (verb === '' || verb.includes('/')) throw new PathTemplateError(source, 'bad custom verb');
  }
  const segments: SegmentKey[] = [];
  const variables: TemplateVariable[] = [];
  const parts = splitOutsideBraces(body, source);
  for (const part of parts) {
    if (part.startsWith('{')) {
      if (!part.endsWith('}')) throw new PathTemplateError(source, `unterminated variable ${part}`);
      const inner = part.slice(1, -1);
      const eq = inner.indexOf('=');
      const fieldPathText = eq >= 0 ? inner.slice(0, eq) : inner;
      const fieldPath = fieldPathText.split('.');
      if (!fieldPath.every((p) => identPattern.test(p))) {
        throw new PathTemplateError(source, `bad field path ${JSON.stringify(fieldPathText)}`);
      }
      if (variables.some((v) => v.fieldPath.join('.') === fieldPath.join('.'))) {
        throw new PathTemplateError(source, `variable ${fieldPathText} bound twice`);
      }
      const sub = eq >= 0 ? inner.slice(eq + 1).split('/') : ['*'];
      const start = segments.length;
      for (const s of sub) {
        if (s.includes('{') || s.includes('}')) throw new PathTemplateError(source, 'nested variables');
        segments.push(segmentKey(s, source));
      }
      variables.push({ fieldPath, start, end: segments.length, open: sub.includes('**'), tail: 0 });
    } else {
      segments.push(segmentKey(part, source));
    }
  }
  if (segments.filter((s) => s.kind === 'multi').length > 1) {
    throw new PathTemplateError(source, '"**" may appear at most once');
  }
  // After `**` the request has a variable number of parts, so an open variable's end is counted from the end.
  for (const v of variables) {
    if (v.open) v.tail = segments.length - v.end + (verb ? 1 : 0);
  }
  const multiIndex = segments.findIndex((s) => s.kind === 'multi');
  if (multiIndex >= 0 && variables.some((v) => v.start > multiIndex)) {
    throw new PathTemplateError(source, 'a variable after "**" cannot be located');
  }
  return { source, segments, variables, verb };
}

function segmentKey(text: string, source: string): SegmentKey {
  if (text === '*') return { kind: 'single' };
  if (text === '**') return { kind: 'multi' };
  if (text === '' || /[{}*]/.test(text)) throw new PathTemplateError(source, `bad segment ${JSON.stringify(text)}`);
  return { kind: 'literal', value: text };
}

function findVerbColon(body: string): number {
  let depth = 0;
  let found = -1;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '{') depth++;
    else if (c === '}') depth--;
    else if (c === ':' && depth === 0) found = i;
  }
  return found;
}

function splitOutsideBraces(body: string, source: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const c of body) {
    if (c === '{') depth++;
    if (c === '}') depth--;
    if (depth < 0 || depth > 1) throw new PathTemplateError(source, 'unbalanced braces');
    if (c === '/' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  if (depth !== 0) throw new PathTemplateError(source, 'unbalanced braces');
  parts.push(current);
  return parts;
}
