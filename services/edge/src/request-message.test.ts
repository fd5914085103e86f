import { describe, expect, it } from 'vitest';
import { collectHttpBindings, loadDescriptorSet } from './http-bindings.ts';
import { defaultDescriptorPath } from './edge.ts';
import { encodeRequestMessage, encodeRequestMessageReflectively, hasPathOnlyPlan } from './request-message.ts';
import { buildProbeDescriptor } from '../test/fixtures/probe-server.ts';

// Requests of bindings whose path variables bind plain string fields are written directly when there is no
// query string; the bytes must be the ones the general path (message object + toBinary) produces.

const values = [
  'tasks/0b9e6a52-4a0e-4c3f-9d1e-1f0f2a3b4c5d',
  'organizations/o/boards/b',
  'tâche-ü',
  'emoji-😀',
  'latin1-\u00e9\u00ff',
  'lone-\ud800-surrogate',
  'x'.repeat(127),
  'y'.repeat(128),
  'z'.repeat(20_000),
];

/** The bytes, or the error (a lone surrogate is refused by the encoder). */
function outcome(encode: () => Uint8Array): Buffer | string {
  try {
    return Buffer.from(encode());
  } catch (error) {
    return String(error);
  }
}

describe('request messages written directly from path variables', () => {
  for (const [name, path] of [
    ['Taskmesh API', defaultDescriptorPath],
    ['edge probe', buildProbeDescriptor()],
  ] as const) {
    it(`matches the general encoder for every eligible binding of the ${name}`, () => {
      const registry = loadDescriptorSet(path);
      const bindings = collectHttpBindings(registry);
      const eligible = bindings.filter(hasPathOnlyPlan);
      expect(eligible.length).toBeGreaterThan(0);
      for (const binding of eligible) {
        for (let i = 0; i < values.length; i++) {
          const pathBindings = binding.template.variables.map((variable, index) => ({
            fieldPath: variable.fieldPath,
            value: values[(i + index) % values.length]!,
          }));
          const input = { binding, registry, pathBindings, rawQuery: '', bodyText: undefined };
          expect(outcome(() => encodeRequestMessage(input)), `${binding.grpcPath} ${binding.template.source}`).toEqual(
            outcome(() => encodeRequestMessageReflectively(input)),
          );
        }
      }
    });
  }

  it('serves GetTask (GET /v1/{name=tasks/*}) directly, and leaves bindings with a body to the general path', () => {
    const bindings = collectHttpBindings(loadDescriptorSet(defaultDescriptorPath));
    const getTask = bindings.find((b) => b.grpcPath === '/taskmesh.task.v1.TaskService/GetTask' && b.httpMethod === 'GET');
    expect(getTask && hasPathOnlyPlan(getTask)).toBe(true);
    expect(bindings.filter((b) => b.body !== undefined).some(hasPathOnlyPlan)).toBe(false);
  });

  it('takes the general path for an empty value, so presence rules stay the encoder’s', () => {
    const registry = loadDescriptorSet(defaultDescriptorPath);
    const binding = collectHttpBindings(registry).find((b) => b.grpcPath === '/taskmesh.task.v1.TaskService/GetTask')!;
    const input = { binding, registry, pathBindings: [{ fieldPath: binding.template.variables[0]!.fieldPath, value: '' }], rawQuery: '', bodyText: undefined };
    expect(encodeRequestMessage(input)).toEqual(encodeRequestMessageReflectively(input));
    expect(encodeRequestMessage(input).length).toBe(0);
  });
});
