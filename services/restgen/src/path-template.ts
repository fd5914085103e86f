// Parses google.api.http path templates:
//   Template = "/" Segments [ Verb ] ;  Segment = "*" | "**" | LITERAL | Variable ;
//   Variable = "{" FieldPath [ "=" Segments ] "}" ;
// Literal text is kept verbatim (custom verbs such as ":signUp" included), so a template can be
// rebuilt exactly by concatenating its parts.

export interface LiteralPart {
  readonly kind: 'literal';
  readonly text: string;
}

export interface VariablePart {
  readonly kind: 'variable';
  /** Proto field names from the request message, e.g. ["task", "name"]. */
  readonly fieldPath: readonly string[];
  /** The variable's own segments, e.g. ["organizations", "*", "boards", "*"]; ["*"] when omitted. */
  readonly segments: readonly string[];
}

export type TemplatePart = LiteralPart | VariablePart;

export class PathTemplateError extends Error {
  constructor(template: string, reason: string) {
    super(`invalid google.api.http path template "${template}": ${reason}`);
    this.name = 'PathTemplateError';
  }
}

export function parsePathTemplate(template: string): TemplatePart[] {
  if (!template.startsWith('/')) throw new PathTemplateError(template, 'must start with "/"');
  const parts: TemplatePart[] = [];
  let literal = '';
  let i = 0;
  while (i < template.length) {
    const ch = template[i]!;
    if (ch === '}') throw new PathTemplateError(template, `unbalanced "}" at ${i}`);
    if (ch !== '{') {
      literal += ch;
      i++;
      continue;
    }
    const close = template.indexOf('}', i);
    if (close < 0) throw new PathTemplateError(template, `unclosed "{" at ${i}`);
    const inner = template.slice(i + 1, close);
    if (inner.includes('{')) throw new PathTemplateError(template, 'nested variables');
    const eq = inner.indexOf('=');
    const fieldPath = (eq < 0 ? inner : inner.slice(0, eq)).split('.');
    if (fieldPath.some((name) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))) {
      throw new PathTemplateError(template, `bad field path "${inner}"`);
    }
    const segments = eq < 0 ? ['*'] : inner.slice(eq + 1).split('/');
    if (segments.some((s) => s === '')) throw new PathTemplateError(template, `empty segment in "{${inner}}"`);
    if (literal) parts.push({ kind: 'literal', text: literal });
    literal = '';
    parts.push({ kind: 'variable', fieldPath, segments });
    i = close + 1;
  }
  if (literal) parts.push({ kind: 'literal', text: literal });
  for (const part of parts) {
    // A bare wildcard outside a variable matches something no request field can supply.
    if (part.kind === 'literal' && part.text.split(/[/:]/).some((s) => s === '*' || s === '**')) {
      throw new PathTemplateError(template, 'wildcard outside a variable cannot be filled from the request');
    }
  }
  return parts;
}

/** True when the variable may span several path segments, so its value keeps its slashes. */
export function isMultiSegment(part: VariablePart): boolean {
  return part.segments.length > 1 || part.segments[0] === '**';
}
