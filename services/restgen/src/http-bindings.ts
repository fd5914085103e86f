import { getOption, hasOption } from '@bufbuild/protobuf';
import type { DescExtension, DescField, DescFile, DescMessage, DescMethod, DescService } from '@bufbuild/protobuf';
import { parsePathTemplate, type TemplatePart, type VariablePart } from './path-template.ts';

/** The parts of google.api.HttpRule we read; the extension is loaded from the request's own descriptors. */
interface HttpRuleShape {
  pattern: { case: 'get' | 'put' | 'post' | 'delete' | 'patch'; value: string } | { case: 'custom'; value: { kind: string; path: string } } | { case: undefined };
  body: string;
  responseBody: string;
  additionalBindings: HttpRuleShape[];
}

export interface PathVariable {
  readonly part: VariablePart;
  /** The request fields the variable walks through, outermost first. */
  readonly fields: readonly DescField[];
}

export interface HttpBinding {
  readonly method: DescMethod;
  readonly httpMethod: string;
  readonly template: string;
  readonly parts: readonly TemplatePart[];
  readonly variables: readonly PathVariable[];
  /** "" (no body), "*" (every field not bound by the path) or the name of one request field. */
  readonly body: string;
  readonly bodyField: DescField | undefined;
  readonly responseBodyField: DescField | undefined;
  /** 0 for the rule itself, 1.. for its additional_bindings. */
  readonly index: number;
}

export class BindingError extends Error {
  constructor(method: DescMethod, reason: string) {
    super(`${method.parent.typeName}.${method.name}: ${reason}`);
    this.name = 'BindingError';
  }
}

/** google.api.FieldBehavior values we act on. */
export const FieldBehavior = { REQUIRED: 2, OUTPUT_ONLY: 3, INPUT_ONLY: 4 } as const;

function findExtension(files: readonly DescFile[], typeName: string): DescExtension | undefined {
  for (const file of files) {
    const found = file.extensions.find((ext) => ext.typeName === typeName);
    if (found) return found;
  }
  return undefined;
}

function resolveFieldPath(method: DescMethod, message: DescMessage, path: readonly string[]): DescField[] {
  const fields: DescField[] = [];
  let current: DescMessage | undefined = message;
  for (const name of path) {
    const field: DescField | undefined = current?.fields.find((f) => f.name === name);
    if (!field) throw new BindingError(method, `path variable "${path.join('.')}" names no field of ${message.typeName}`);
    if (field.fieldKind === 'list' || field.fieldKind === 'map') {
      throw new BindingError(method, `path variable "${path.join('.')}" is repeated`);
    }
    fields.push(field);
    current = field.fieldKind === 'message' ? field.message : undefined;
  }
  const leaf = fields[fields.length - 1]!;
  if (leaf.fieldKind === 'message') throw new BindingError(method, `path variable "${path.join('.')}" is a message`);
  return fields;
}

/** Reads google.api.http and google.api.field_behavior from descriptors of one CodeGeneratorRequest. */
export class HttpAnnotations {
  private readonly http: DescExtension | undefined;
  private readonly fieldBehavior: DescExtension | undefined;
  /** google.api.resource patterns of every message, split into segments, e.g. ["organizations", "{org}"]. */
  readonly resourcePatterns: readonly (readonly string[])[];

  constructor(allFiles: readonly DescFile[]) {
    this.http = findExtension(allFiles, 'google.api.http');
    this.fieldBehavior = findExtension(allFiles, 'google.api.field_behavior');
    const resource = findExtension(allFiles, 'google.api.resource');
    const patterns: string[][] = [];
    const visit = (message: DescMessage) => {
      if (resource && hasOption(message, resource)) {
        for (const pattern of (getOption(message, resource) as unknown as { pattern: string[] }).pattern) patterns.push(pattern.split('/'));
      }
      message.nestedMessages.forEach(visit);
    };
    for (const file of allFiles) file.messages.forEach(visit);
    this.resourcePatterns = patterns;
  }

  bindings(method: DescMethod): HttpBinding[] {
    const ext = this.http;
    if (!ext || !hasOption(method, ext)) return [];
    const rule = getOption(method, ext) as unknown as HttpRuleShape;
    return [rule, ...rule.additionalBindings].map((r, index) => this.toBinding(method, r, index));
  }

  services(files: readonly DescFile[]): { service: DescService; methods: { method: DescMethod; bindings: HttpBinding[] }[] }[] {
    const out = [];
    for (const file of files) {
      for (const service of file.services) {
        const methods = service.methods.map((method) => ({ method, bindings: this.bindings(method) })).filter((m) => m.bindings.length > 0);
        if (methods.length > 0) out.push({ service, methods });
      }
    }
    return out;
  }

  behaviors(field: DescField): Set<number> {
    const ext = this.fieldBehavior;
    if (!ext || !hasOption(field, ext)) return new Set();
    return new Set(getOption(field, ext) as unknown as number[]);
  }

  private toBinding(method: DescMethod, rule: HttpRuleShape, index: number): HttpBinding {
    let httpMethod: string;
    let template: string;
    switch (rule.pattern.case) {
      case 'get':
      case 'put':
      case 'post':
      case 'delete':
      case 'patch':
        httpMethod = rule.pattern.case.toUpperCase();
        template = rule.pattern.value;
        break;
      case 'custom':
        httpMethod = rule.pattern.value.kind.toUpperCase();
        template = rule.pattern.value.path;
        break;
      default:
        throw new BindingError(method, 'google.api.http rule without a pattern');
    }
    const parts = parsePathTemplate(template);
    const variables = parts
      .filter((p): p is VariablePart => p.kind === 'variable')
      .map((part) => ({ part, fields: resolveFieldPath(method, method.input, part.fieldPath) }));
    let bodyField: DescField | undefined;
    if (rule.body !== '' && rule.body !== '*') {
      bodyField = method.input.fields.find((f) => f.name === rule.body);
      if (!bodyField) throw new BindingError(method, `body "${rule.body}" names no field of ${method.input.typeName}`);
    }
    let responseBodyField: DescField | undefined;
    if (rule.responseBody !== '') {
      responseBodyField = method.output.fields.find((f) => f.name === rule.responseBody);
      if (!responseBodyField) throw new BindingError(method, `response_body "${rule.responseBody}" names no field of ${method.output.typeName}`);
    }
    if (method.methodKind === 'client_streaming' || method.methodKind === 'bidi_streaming') {
      throw new BindingError(method, 'client-streaming RPCs over REST are not supported');
    }
    return { method, httpMethod, template, parts, variables, body: rule.body, bodyField, responseBodyField, index };
  }
}

/** Files whose code a plugin should emit: the project's own protos, never google/* imports. */
export function isProjectFile(file: DescFile): boolean {
  return !file.proto.name.startsWith('google/');
}
