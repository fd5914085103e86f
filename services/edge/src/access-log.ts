/** One JSON access-log line per request, the fields Envoy's JSON access log in envoy.yaml prints. */
export interface AccessLogEntry {
  time: string;
  requestId: string;
  method: string;
  /** Path without the query string, so tokens in query parameters never reach the log. */
  path: string;
  status: number;
  /** The gRPC status of the upstream call, when one was made. */
  grpcStatus?: number;
  /** `/package.Service/Method` when the request was transcoded. */
  grpcMethod?: string;
  durationMs: number;
  bytesReceived: number;
  bytesSent: number;
  remoteAddress: string;
  userAgent?: string;
}

export type AccessLogSink = (entry: AccessLogEntry) => void;

/** Writes each entry as one line of JSON on stdout. */
export const stdoutAccessLog: AccessLogSink = (entry) => {
  process.stdout.write(`${JSON.stringify({ log: 'access', ...entry })}\n`);
};
