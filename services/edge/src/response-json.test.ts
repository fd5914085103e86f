import { create, fromBinary, ScalarType, toBinary, toJson } from '@bufbuild/protobuf';
import type { DescField, DescMessage } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { describe, expect, it } from 'vitest';
import { defaultDescriptorPath } from './edge.ts';
import { collectHttpBindings, loadDescriptorSet } from './http-bindings.ts';
import { encodeResponseMessage } from './response-message.ts';
import { responseJsonWriter, type ResponseJsonWriter } from './response-json.ts';

const text = (writer: ResponseJsonWriter, bytes: Uint8Array) => {
  const written = writer.write(bytes);
  return written && new TextDecoder().decode(written);
};

const registry = loadDescriptorSet(defaultDescriptorPath);
const outputs = [...new Map(collectHttpBindings(registry).map((binding) => [binding.method.output.typeName, binding.method.output])).values()];

/** What the edge wrote before the compiled writer, and still writes for types without a plan. */
function reflective(schema: DescMessage, bytes: Uint8Array): string {
  return JSON.stringify(toJson(schema, fromBinary(schema, bytes), { alwaysEmitImplicit: true, registry }));
}

// A small deterministic generator (no Math.random: a failure must reproduce).
function generator(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  return { next, pick };
}

type Gen = ReturnType<typeof generator>;

const strings = ['', 'a', 'organizations/o1/boards/b1/tasks/t1', 'quote " backslash \\ newline \n tab \t', 'émoji 🎉 ünïcode', '\u0000\u001f\u2028'];

function scalarValue(scalar: ScalarType, gen: Gen): unknown {
  switch (scalar) {
    case ScalarType.STRING:
      return gen.pick(strings);
    case ScalarType.BYTES:
      return gen.pick([new Uint8Array(), new Uint8Array([0, 255, 1, 2, 3]), new TextEncoder().encode('hello?>')]);
    case ScalarType.BOOL:
      return gen.next() < 0.5;
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return gen.pick([0, 1, -1, 2147483647, -2147483648, 300]);
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return gen.pick([0, 1, 4294967295, 300]);
    case ScalarType.FLOAT:
      return gen.pick([0, 1.5, -2.25, Number.NaN, Infinity, -Infinity]);
    case ScalarType.DOUBLE:
      return gen.pick([0, 0.1, -1e300, 123456.789, Number.NaN, Infinity, -Infinity]);
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return gen.pick([0n, 1n, -1n, 9223372036854775807n, -9223372036854775808n]);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return gen.pick([0n, 1n, 18446744073709551615n]);
  }
}

function singular(field: DescField, gen: Gen, depth: number): unknown {
  const kind = field.fieldKind === 'list' ? field.listKind : field.fieldKind;
  if (kind === 'scalar') return scalarValue((field as { scalar: ScalarType }).scalar, gen);
  if (kind === 'enum') return gen.next() < 0.2 ? 77 : gen.pick(field.enum!.values).number;
  return messageValue(field.message!, gen, depth + 1);
}

function messageValue(schema: DescMessage, gen: Gen, depth: number): Record<string, unknown> {
  if (schema.typeName === 'google.protobuf.Timestamp') {
    return {
      seconds: gen.pick([0n, 1_700_000_000n, -62135596800n, 253402300799n, 1n]),
      nanos: gen.pick([0, 500_000_000, 123_456_000, 123_456_789, 1]),
    };
  }
  const init: Record<string, unknown> = {};
  for (const field of schema.fields) {
    if (gen.next() < 0.3 || (field.fieldKind === 'message' && depth > 3)) continue;
    if (field.fieldKind === 'list') {
      init[field.localName] = Array.from({ length: Math.floor(gen.next() * 4) }, () => singular(field, gen, depth));
    } else {
      init[field.localName] = singular(field, gen, depth);
    }
  }
  return init;
}

describe('responseJsonWriter', () => {
  it('has a plan for the task, board and org resource responses (the hot paths)', () => {
    for (const name of ['taskmesh.task.v1.Task', 'taskmesh.task.v1.ListTasksResponse', 'taskmesh.board.v1.Board']) {
      const schema = registry.getMessage(name);
      expect(schema, name).toBeDefined();
      expect(responseJsonWriter(schema!), name).toBeDefined();
    }
  });

  it('writes exactly what fromBinary + toJson + JSON.stringify write, for every planned response type', () => {
    let planned = 0;
    for (const schema of outputs) {
      const writer = responseJsonWriter(schema);
      if (!writer) continue;
      planned++;
      expect(text(writer, new Uint8Array()), schema.typeName).toBe(reflective(schema, new Uint8Array()));
      for (let seed = 1; seed <= 40; seed++) {
        const message = create(schema, messageValue(schema, generator(seed * 7919 + planned), 0) as never);
        const bytes = toBinary(schema, message);
        expect(text(writer, bytes), `${schema.typeName} seed ${seed}`).toBe(reflective(schema, bytes));
      }
    }
    expect(planned).toBeGreaterThan(10);
  });

  it('skips unknown fields and reads unpacked repeated items and unknown enum numbers like the reflective path', () => {
    const schema = registry.getMessage('taskmesh.task.v1.Task')!;
    const writer = new BinaryWriter();
    writer.tag(1, WireType.LengthDelimited).string('organizations/o/boards/b/tasks/t');
    writer.tag(99, WireType.Varint).uint64(12345n); // unknown, before known fields
    writer.tag(5, WireType.Varint).int32(-3); // an enum number the enum does not have
    writer.tag(8, WireType.LengthDelimited).string('b'); // labels, unpacked strings
    writer.tag(98, WireType.Bit32).fixed32(1); // unknown, between a repeated field's items
    writer.tag(8, WireType.LengthDelimited).string('a');
    writer.tag(15, WireType.LengthDelimited).bytes(new Uint8Array([8, 5, 16, 7]));
    writer.tag(97, WireType.Bit64).fixed64(1n); // unknown, last
    const bytes = writer.finish();
    expect(text(responseJsonWriter(schema)!, bytes)).toBe(reflective(schema, bytes));
  });

  it('leaves fields out of order or sent twice, groups, bad timestamps and malformed input to the reflective path', () => {
    const schema = registry.getMessage('taskmesh.task.v1.Task')!;
    const writer = responseJsonWriter(schema)!;
    const cases: Uint8Array[] = [];
    const outOfOrder = new BinaryWriter();
    outOfOrder.tag(3, WireType.LengthDelimited).string('title').tag(1, WireType.LengthDelimited).string('name');
    cases.push(outOfOrder.finish());
    const lastWins = new BinaryWriter();
    lastWins.tag(1, WireType.LengthDelimited).string('first').tag(1, WireType.LengthDelimited).string('last');
    cases.push(lastWins.finish());
    const merged = new BinaryWriter();
    merged.tag(14, WireType.LengthDelimited).bytes(new Uint8Array([8, 5])).tag(14, WireType.LengthDelimited).bytes(new Uint8Array([16, 7]));
    cases.push(merged.finish());
    const split = new BinaryWriter();
    split.tag(8, WireType.LengthDelimited).string('a').tag(10, WireType.Varint).bool(true).tag(8, WireType.LengthDelimited).string('b');
    cases.push(split.finish());
    const outOfRange = new BinaryWriter();
    outOfRange.tag(14, WireType.LengthDelimited).bytes(new BinaryWriter().tag(1, WireType.Varint).int64(253402300800n).finish());
    cases.push(outOfRange.finish());
    for (const bytes of cases) {
      expect(writer.write(bytes)).toBeUndefined();
      // what the edge sends for them is the reflective text (or its error)
      const some = collectHttpBindings(registry)[0]!;
      const binding = { ...some, method: { ...some.method, output: schema }, responseBody: undefined } as typeof some;
      let expected: string | Error;
      try {
        expected = reflective(schema, bytes);
      } catch (error) {
        expected = error as Error;
      }
      if (expected instanceof Error) expect(() => encodeResponseMessage(binding, bytes, registry)).toThrow();
      else expect(encodeResponseMessage(binding, bytes, registry).body).toBe(expected);
    }
    const group = new BinaryWriter();
    group.tag(50, WireType.StartGroup).tag(50, WireType.EndGroup);
    expect(writer.write(group.finish())).toBeUndefined();
    expect(writer.write(new Uint8Array([10, 50, 1]))).toBeUndefined(); // a string longer than the buffer
  });

  it('has no plan for types with a JSON form of their own or a oneof', () => {
    expect(responseJsonWriter(registry.getMessage('google.protobuf.Any')!)).toBeUndefined();
    expect(responseJsonWriter(registry.getMessage('google.protobuf.FieldMask')!)).toBeUndefined();
    const withOneof = [...registry].find((type) => type.kind === 'message' && type.oneofs.length > 0) as DescMessage | undefined;
    if (withOneof) expect(responseJsonWriter(withOneof)).toBeUndefined();
  });
});
