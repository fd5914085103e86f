import type { JsonObject } from '@bufbuild/protobuf';

/**
 * A request the edge answers itself, before or instead of calling a service: the HTTP status, the gRPC
 * code that goes into the `{"code","message","details"}` body, and a message safe to show a client.
 */
export class TranscodingError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly code: number,
    message: string,
    /** google.rpc details in their JSON form, e.g. a BadRequest naming the field. */
    readonly details: JsonObject[] = [],
  ) {
    super(message);
    this.name = 'TranscodingError';
  }
}
