/**
 * A request the edge answers itself, before or instead of calling a service: the HTTP status, the gRPC
 * code that goes into the `{"code","message","details"}` body, and a message safe to show a client.
 */
export class TranscodingError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'TranscodingError';
  }
}
