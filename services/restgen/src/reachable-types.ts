import type { DescEnum, DescField, DescMessage } from '@bufbuild/protobuf';

/**
 * Well-known types whose JSON form is not an object with their fields (google.protobuf.Timestamp prints
 * as an RFC 3339 string, a FieldMask as a comma list, wrappers as their primitive, ...). Generators
 * render these inline instead of declaring them.
 */
export const inlineWellKnownTypes = new Set([
  'google.protobuf.Any',
  'google.protobuf.BoolValue',
  'google.protobuf.BytesValue',
  'google.protobuf.DoubleValue',
  'google.protobuf.Duration',
  'google.protobuf.Empty',
  'google.protobuf.FieldMask',
  'google.protobuf.FloatValue',
  'google.protobuf.Int32Value',
  'google.protobuf.Int64Value',
  'google.protobuf.ListValue',
  'google.protobuf.StringValue',
  'google.protobuf.Struct',
  'google.protobuf.Timestamp',
  'google.protobuf.UInt32Value',
  'google.protobuf.UInt64Value',
  'google.protobuf.Value',
]);

/** The message or enum a field holds (its value type for maps and lists), if any. */
export function fieldTypeDesc(field: DescField): DescMessage | DescEnum | undefined {
  switch (field.fieldKind) {
    case 'message':
      return field.message;
    case 'enum':
      return field.enum;
    case 'list':
      return field.listKind === 'message' ? field.message : field.listKind === 'enum' ? field.enum : undefined;
    case 'map':
      return field.mapKind === 'message' ? field.message : field.mapKind === 'enum' ? field.enum : undefined;
    default:
      return undefined;
  }
}

/** Every message and enum reachable from the roots, excluding the inline well-known types. */
export function reachableTypes(roots: Iterable<DescMessage | DescEnum>): Set<DescMessage | DescEnum> {
  const seen = new Set<DescMessage | DescEnum>();
  const queue = [...roots];
  while (queue.length > 0) {
    const desc = queue.shift()!;
    if (seen.has(desc) || inlineWellKnownTypes.has(desc.typeName)) continue;
    seen.add(desc);
    if (desc.kind === 'message') {
      for (const field of desc.fields) {
        const inner = fieldTypeDesc(field);
        if (inner) queue.push(inner);
      }
    }
  }
  return seen;
}

/** The TypeScript / schema name of a declared type: nested types joined with "_" (Outer_Inner). */
export function localTypeName(desc: DescMessage | DescEnum): string {
  const pkg = desc.file.proto.package;
  const local = pkg ? desc.typeName.slice(pkg.length + 1) : desc.typeName;
  return local.replaceAll('.', '_');
}
