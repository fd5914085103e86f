import type { DescField } from '@bufbuild/protobuf';
import type { HttpBinding } from './http-bindings.ts';
import { isMultiSegment } from './path-template.ts';

/** One named parameter of a display path: a whole single-segment variable, or one wildcard of a multi-segment one. */
export interface PathParameter {
  readonly name: string;
  /** The request field the variable fills, as a dotted JSON path, e.g. "name" or "task.name". */
  readonly fieldPath: string;
  readonly field: DescField;
  /** For a wildcard inside a multi-segment variable: "*" or "**", and the variable's pattern. */
  readonly wildcard?: { readonly segment: '*' | '**'; readonly pattern: string };
}

function singular(word: string): string {
  if (word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (word.endsWith('s')) return word.slice(0, -1);
  return `${word}Id`;
}

/**
 * A binding's path as people read it: /v1/organizations/{org}/boards/{board}:watch for
 * /v1/{name=organizations/*\/boards/*}:watch. Wildcards take their names from the google.api.resource
 * pattern they stand for, so paths read like API.md; a crude singular of the collection name otherwise.
 */
export function displayPath(binding: HttpBinding, resourcePatterns: readonly (readonly string[])[]): { path: string; params: PathParameter[] } {
  const used = new Set<string>();
  const uniqueName = (base: string) => {
    let name = base;
    for (let i = 2; used.has(name); i++) name = `${base}${i}`;
    used.add(name);
    return name;
  };
  const params: PathParameter[] = [];
  const path = binding.parts
    .map((part) => {
      if (part.kind === 'literal') return part.text;
      const variable = binding.variables.find((v) => v.part === part)!;
      const fieldPath = variable.fields.map((f) => f.jsonName).join('.');
      const field = variable.fields[variable.fields.length - 1]!;
      if (!isMultiSegment(part)) {
        const name = uniqueName(fieldPath);
        params.push({ name, fieldPath, field });
        return `{${name}}`;
      }
      const segments = part.segments;
      const pattern = segments.join('/');
      const resourcePattern = resourcePatterns.find(
        (p) => p.length >= segments.length && segments.every((s, i) => (s === '*' ? /^\{\w+\}$/.test(p[i]!) : s === p[i])),
      );
      return segments
        .map((segment, i) => {
          if (segment !== '*' && segment !== '**') return segment;
          const previous = segments[i - 1];
          const fromPattern = segment === '*' ? resourcePattern?.[i]?.slice(1, -1) : undefined;
          const name = uniqueName(fromPattern ?? (previous && previous !== '*' && previous !== '**' ? singular(previous) : fieldPath));
          params.push({ name, fieldPath, field, wildcard: { segment, pattern } });
          return `{${name}}`;
        })
        .join('/');
    })
    .join('');
  return { path, params };
}
