import { fromBinary, toJson } from '@bufbuild/protobuf';
import type { JsonObject, JsonValue, Registry } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';

/** gRPC status codes by number (google.rpc.Code). */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

const httpStatusByCode: Record<number, number> = {
  [GrpcCode.OK]: 200,
  [GrpcCode.INVALID_ARGUMENT]: 400,
  [GrpcCode.FAILED_PRECONDITION]: 400,
  [GrpcCode.OUT_OF_RANGE]: 400,
  [GrpcCode.UNAUTHENTICATED]: 401,
  [GrpcCode.PERMISSION_DENIED]: 403,
  [GrpcCode.NOT_FOUND]: 404,
  [GrpcCode.ALREADY_EXISTS]: 409,
  [GrpcCode.ABORTED]: 409,
  [GrpcCode.RESOURCE_EXHAUSTED]: 429,
  [GrpcCode.UNIMPLEMENTED]: 501,
  [GrpcCode.UNAVAILABLE]: 503,
  [GrpcCode.DEADLINE_EXCEEDED]: 504,
};

/** The HTTP status for a gRPC code, per the table in API.md; every other code is 500. */
export function httpStatusForGrpcCode(code: number): number {
  return httpStatusByCode[code] ?? 500;
}

/**
 * The error body Envoy sends with convert_grpc_status: google.rpc.Status as JSON. When the service sent
 * `grpc-status-details-bin`, that Status is used (its details decoded through the registry, so
 * google.rpc.ErrorInfo, BadRequest and the like print as their JSON); otherwise code and message alone.
 */
export function errorBody(code: number, message: string, statusDetailsBin: Uint8Array | undefined, registry: Registry): JsonObject {
  if (statusDetailsBin && statusDetailsBin.length > 0) {
    const statusSchema = registry.getMessage('google.rpc.Status');
    if (statusSchema) {
      try {
        const status = fromBinary(statusSchema, statusDetailsBin) as unknown as { code: number; message: string; details: { typeUrl: string; value: Uint8Array }[] };
        return {
          code: status.code || code,
          message: status.message || message,
          details: status.details.map((detail) => anyJson(detail, registry)),
        };
      } catch {
        // A malformed trailer is the service's bug; the code and message still reach the client.
      }
    }
  }
  return { code, message, details: [] };
}

function anyJson(detail: { typeUrl: string; value: Uint8Array }, registry: Registry): JsonValue {
  const any = { $typeName: 'google.protobuf.Any' as const, typeUrl: detail.typeUrl, value: detail.value };
  try {
    return toJson(AnySchema, any, { registry, alwaysEmitImplicit: true });
  } catch {
    // A detail type outside the descriptor set: keep it visible rather than dropping it.
    return { '@type': detail.typeUrl, value: Buffer.from(detail.value).toString('base64') };
  }
}
