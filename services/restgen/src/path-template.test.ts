import { describe, expect, it } from 'vitest';
import { isMultiSegment, parsePathTemplate, type VariablePart } from './path-template.ts';

describe('parsePathTemplate', () => {
  it('keeps literal text verbatim, custom verbs included, so the template can be rebuilt', () => {
    expect(parsePathTemplate('/v1/auth:signUp')).toEqual([{ kind: 'literal', text: '/v1/auth:signUp' }]);
    const parts = parsePathTemplate('/v1/{name=organizations/*/boards/*}:watch');
    expect(parts).toEqual([
      { kind: 'literal', text: '/v1/' },
      { kind: 'variable', fieldPath: ['name'], segments: ['organizations', '*', 'boards', '*'] },
      { kind: 'literal', text: ':watch' },
    ]);
  });

  it('reads nested field paths, the implicit single wildcard, and tells single from multi-segment variables', () => {
    const [, nested] = parsePathTemplate('/v1/{task.name=organizations/*/boards/*/tasks/*}');
    expect((nested as VariablePart).fieldPath).toEqual(['task', 'name']);
    const [, single] = parsePathTemplate('/v1/shelves/{shelf}');
    expect((single as VariablePart).segments).toEqual(['*']);
    expect(isMultiSegment(single as VariablePart)).toBe(false);
    expect(isMultiSegment(nested as VariablePart)).toBe(true);
    expect(isMultiSegment(parsePathTemplate('/v1/files/{path=**}')[1] as VariablePart)).toBe(true);
  });

  it('rejects templates a request cannot fill or that do not parse', () => {
    expect(() => parsePathTemplate('v1/x')).toThrow(/must start with "\/"/);
    expect(() => parsePathTemplate('/v1/{name')).toThrow(/unclosed/);
    expect(() => parsePathTemplate('/v1/name}')).toThrow(/unbalanced/);
    expect(() => parsePathTemplate('/v1/{a.b-c}')).toThrow(/bad field path/);
    expect(() => parsePathTemplate('/v1/{name=a//b}')).toThrow(/empty segment/);
    expect(() => parsePathTemplate('/v1/*/books')).toThrow(/wildcard outside a variable/);
  });
});
