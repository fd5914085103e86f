import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, env, parseConfig } from './config.ts';

describe('parseConfig', () => {
  const schema = z.object({ SOME_PORT: env.port(50051), SOME_URL: z.url(), FLAG: env.bool(false) });

  it('applies defaults and coerces values', () => {
    expect(parseConfig(schema, { SOME_URL: 'http://x.test', FLAG: 'yes' })).toEqual({
      SOME_PORT: 50051,
      SOME_URL: 'http://x.test',
      FLAG: true,
    });
  });

  it('fails fast naming the variable', () => {
    expect(() => parseConfig(schema, { SOME_PORT: '70000', SOME_URL: 'http://x.test' })).toThrow(ConfigError);
    expect(() => parseConfig(schema, { SOME_PORT: '70000', SOME_URL: 'http://x.test' })).toThrow(/SOME_PORT/);
    expect(() => parseConfig(schema, {})).toThrow(/SOME_URL/);
  });

  it('treats an empty variable as unset', () => {
    expect(parseConfig(schema, { SOME_PORT: '', SOME_URL: 'http://x.test' }).SOME_PORT).toBe(50051);
  });
});
