import { describe, expect, it } from 'vitest';
import { parsePathTemplate, PathTemplateError } from './path-template.ts';

describe('parsePathTemplate', () => {
  it('flattens variables into segments and records their ranges', () => {
    const t = parsePathTemplate('/v1/{parent=organizations/*/boards/*}/lists');
    expect(t.segments).toEqual([
      { kind: 'literal', value: 'v1' },
      { kind: 'literal', value: 'organizations' },
      { kind: 'single' },
      { kind: 'literal', value: 'boards' },
      { kind: 'single' },
      { kind: 'literal', value: 'lists' },
    ]);
    expect(t.variables).toEqual([{ fieldPath: ['parent'], start: 1, end: 5, open: false, tail: 0 }]);
    expect(t.verb).toBe('');
  });

  it('treats {field} as {field=*} and reads nested field paths', () => {
    const t = parsePathTemplate('/v1/shelves/{shelf.id}');
    expect(t.segments[2]).toEqual({ kind: 'single' });
    expect(t.variables[0]).toMatchObject({ fieldPath: ['shelf', 'id'], start: 2, end: 3 });
  });

  it('splits off the custom verb, even after a variable', () => {
    expect(parsePathTemplate('/v1/auth:signUp')).toMatchObject({ verb: 'signUp', segments: [{ value: 'v1' }, { value: 'auth' }] });
    const t = parsePathTemplate('/v1/{name=organizations/*/boards/*}:watch');
    expect(t.verb).toBe('watch');
    expect(t.variables[0]).toMatchObject({ start: 1, end: 5 });
  });

  it('counts an open (**) variable from the end, including the verb', () => {
    expect(parsePathTemplate('/v1/{name=**}').variables[0]).toMatchObject({ open: true, tail: 0 });
    expect(parsePathTemplate('/v1/{name=files/**}/meta:get').variables[0]).toMatchObject({ open: true, start: 1, tail: 2 });
  });

  it.each(['v1/x', '/v1/{name', '/v1/{a=b/{c}}', '/v1/**/x/**', '/v1//x', '/v1/{1bad}', '/v1/x:', '/v1/{a}/{a}', '/v1/**/{a}'])(
    'rejects %s',
    (source) => {
      expect(() => parsePathTemplate(source)).toThrow(PathTemplateError);
    },
  );
});
