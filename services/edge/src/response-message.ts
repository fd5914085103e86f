import { fromBinary, toJson } from '@bufbuild/protobuf';
import type { DescMessage, JsonObject, Registry } from '@bufbuild/protobuf';
import type { HttpBinding } from './http-bindings.ts';
import { responseJsonWriter } from './response-json.ts';
import type { ResponseJsonWriter } from './response-json.ts';
import { keepJson, keptJson, type LargeResponseMemo } from './large-response-memo.ts';

/** What goes back to the HTTP client for one response message. */
export interface EncodedResponse {
  contentType: string;
  body: string | Uint8Array;
  /** the body is UTF-8 JSON text in bytes (the compiled writer), not an HttpBody's raw data */
  jsonBytes?: true;
}

/**
 * Renders a response message as Envoy does with the print options envoy.yaml sets: lowerCamelCase
 * names, enums as names, 64-bit integers as strings, fields without presence printed even when unset
 * (always_print_primitive_fields), compact. `response_body` selects one field; google.api.HttpBody is
 * sent raw with its own content type. `largeResponses` keeps the JSON of large payloads (large-response-memo.ts).
 */
export function encodeResponseMessage(binding: HttpBinding, bytes: Uint8Array, registry: Registry, largeResponses?: LargeResponseMemo): EncodedResponse {
  const schema = binding.method.output;
  if (!binding.responseBody) {
    // The compiled binary→JSON writer when the type has one; the same text as the reflective path below.
    const writer = writerFor(schema);
    if (writer) {
      // A large payload seen before (a board page loaded again) has its JSON kept by its exact bytes.
      const kept = keptJson(largeResponses, schema.typeName, bytes);
      if (kept) return { contentType: 'application/json', body: kept, jsonBytes: true };
      const body = writer.write(bytes);
      if (body !== undefined) {
        keepJson(largeResponses, schema.typeName, bytes, body);
        return { contentType: 'application/json', body, jsonBytes: true };
      }
    }
  }
  const message = fromBinary(schema, bytes) as unknown as Record<string, unknown>;
  const field = binding.responseBody;
  if (field) {
    if (field.fieldKind === 'message' && isHttpBody(field.message)) {
      return httpBody(message[field.localName] as HttpBodyShape | undefined);
    }
    const json = toJson(schema, message as never, { alwaysEmitImplicit: true, registry }) as JsonObject;
    return { contentType: 'application/json', body: JSON.stringify(json[field.jsonName] ?? (field.fieldKind === 'message' ? {} : null)) };
  }
  if (isHttpBody(schema)) return httpBody(message as unknown as HttpBodyShape);
  return { contentType: 'application/json', body: JSON.stringify(toJson(schema, message as never, { alwaysEmitImplicit: true, registry })) };
}

const writers = new WeakMap<DescMessage, ResponseJsonWriter | null>();

function writerFor(schema: DescMessage): ResponseJsonWriter | undefined {
  let writer = writers.get(schema);
  if (writer === undefined) writers.set(schema, (writer = responseJsonWriter(schema) ?? null));
  return writer ?? undefined;
}

interface HttpBodyShape {
  contentType: string;
  data: Uint8Array;
}

function isHttpBody(message: DescMessage): boolean {
  return message.typeName === 'google.api.HttpBody';
}

function httpBody(body: HttpBodyShape | undefined): EncodedResponse {
  return { contentType: body?.contentType || 'application/octet-stream', body: body?.data ?? new Uint8Array() };
}
