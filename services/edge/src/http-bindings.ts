import { readFileSync } from 'node:fs';
import { createFileRegistry, fromBinary, getOption, hasOption } from '@bufbuild/protobuf';
import type { DescExtension, DescField, DescMethod, DescService, FileRegistry } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { parsePathTemplate } from './path-template.ts';
import type { PathTemplate } from './path-template.ts';

/** One google.api.http binding of an RPC (the rule itself or one of its additional_bindings). */
export interface HttpBinding {
  method: DescMethod;
  /** `/package.Service/Method`, the gRPC path the request goes to. */
  grpcPath: string;
  /** Upper-case HTTP method; `custom` rules use their declared kind. */
  httpMethod: string;
  template: PathTemplate;
  /** Absent: no body. `*`: the whole request message. Otherwise the request field the body fills. */
  body?: '*' | DescField;
  /** The response field sent as the body instead of the whole response message. */
  responseBody?: DescField;
}

/** The shape of google.api.HttpRule as protobuf-es exposes a message decoded through the registry. */
interface HttpRuleShape {
  pattern: { case: 'get' | 'put' | 'post' | 'delete' | 'patch'; value: string } | { case: 'custom'; value: { kind: string; path: string } } | { case: undefined };
  body: string;
  responseBody: string;
  additionalBindings: HttpRuleShape[];
}

/** Reads a FileDescriptorSet (`buf build -o x.binpb`) into a registry. */
export function loadDescriptorSet(path: string): FileRegistry {
  return createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(path)));
}

/**
 * Every service of the project's own protos that has at least one HTTP-bound method, by full name. Services of
 * imported googleapis files (google.longrunning.Operations) are not served: their bindings are skipped.
 */
export function httpBoundServices(registry: FileRegistry): DescService[] {
  const rule = httpRuleExtension(registry);
  const services: DescService[] = [];
  for (const file of registry.files) {
    if (file.proto.name.startsWith('google/')) continue;
    for (const service of file.services) {
      if (service.methods.some((m) => hasOption(m, rule))) services.push(service);
    }
  }
  return services;
}

/** All HTTP bindings declared in the registry, additional_bindings included. */
export function collectHttpBindings(registry: FileRegistry): HttpBinding[] {
  const extension = httpRuleExtension(registry);
  const bindings: HttpBinding[] = [];
  for (const service of httpBoundServices(registry)) {
    for (const method of service.methods) {
      if (!hasOption(method, extension)) continue;
      const rule = getOption(method, extension) as unknown as HttpRuleShape;
      bindings.push(toBinding(method, rule));
      for (const extra of rule.additionalBindings) {
        if (extra.additionalBindings.length > 0) {
          throw new Error(`${method.parent.typeName}.${method.name}: additional_bindings may not nest`);
        }
        bindings.push(toBinding(method, extra));
      }
    }
  }
  return bindings;
}

function httpRuleExtension(registry: FileRegistry): DescExtension {
  const extension = registry.getExtension('google.api.http');
  if (!extension) throw new Error('the descriptor set lacks google/api/annotations.proto (google.api.http)');
  return extension;
}

function toBinding(method: DescMethod, rule: HttpRuleShape): HttpBinding {
  const where = `${method.parent.typeName}.${method.name}`;
  let httpMethod: string;
  let path: string;
  if (rule.pattern.case === undefined) throw new Error(`${where}: HTTP rule without a pattern`);
  if (rule.pattern.case === 'custom') {
    httpMethod = rule.pattern.value.kind.toUpperCase();
    path = rule.pattern.value.path;
  } else {
    httpMethod = rule.pattern.case.toUpperCase();
    path = rule.pattern.value;
  }
  const binding: HttpBinding = {
    method,
    grpcPath: `/${method.parent.typeName}/${method.name}`,
    httpMethod,
    template: parsePathTemplate(path),
  };
  if (rule.body === '*') {
    binding.body = '*';
  } else if (rule.body !== '') {
    const field = method.input.fields.find((f) => f.name === rule.body);
    if (!field) throw new Error(`${where}: body field ${rule.body} is not in ${method.input.typeName}`);
    binding.body = field;
  }
  if (rule.responseBody !== '') {
    const field = method.output.fields.find((f) => f.name === rule.responseBody);
    if (!field) throw new Error(`${where}: response_body field ${rule.responseBody} is not in ${method.output.typeName}`);
    binding.responseBody = field;
  }
  for (const variable of binding.template.variables) {
    resolveFieldPath(method.input, variable.fieldPath, `${where} path ${path}`);
  }
  return binding;
}

/**
 * Resolves a dotted field path (each part by proto name or JSON name, as Envoy accepts both) through
 * singular message fields; returns the fields along the way, or undefined with `where` absent.
 */
export function resolveFieldPath(message: DescMethod['input'], parts: string[], where?: string): DescField[] | undefined {
  const fields: DescField[] = [];
  let current = message;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const field = current.fields.find((f) => f.name === part || f.jsonName === part);
    if (!field) {
      if (where) throw new Error(`${where}: no field ${parts.slice(0, i + 1).join('.')} in ${message.typeName}`);
      return undefined;
    }
    fields.push(field);
    if (i < parts.length - 1) {
      if (field.fieldKind !== 'message') {
        if (where) throw new Error(`${where}: ${parts.slice(0, i + 1).join('.')} is not a message field`);
        return undefined;
      }
      current = field.message;
    }
  }
  return fields;
}
