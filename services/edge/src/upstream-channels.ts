import * as grpc from '@grpc/grpc-js';

const passThrough = (bytes: Buffer): Buffer => bytes;

/**
 * Every request of the edge to one service shares one HTTP/2 connection. With HTTP/2's default 64 KiB
 * receive window for the whole connection, concurrent large answers (a 500-task page is ~150 KB) crawl
 * through it one window update at a time: the board benchmark (npm run bench) stalled at ~55 loads/s with the
 * CPU half idle. A larger window lets them flow; memory per connection is bounded by it.
 */
const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc-node.flow_control_window': 8 * 1024 * 1024,
  // A restarted service is dialled again within 2 s: grpc-js's default backoff grows to 120 s, and a service
  // that was down for half a minute stayed unreachable through the edge for many seconds after it was back.
  'grpc.max_reconnect_backoff_ms': 2_000,
};

/** Result of a unary call: the response bytes and the service's initial metadata. */
export interface UnaryResult {
  bytes: Buffer;
  headers: grpc.Metadata;
}

/**
 * gRPC channels to the upstream services, one per distinct address, carrying raw message bytes (the
 * edge encodes and decodes with the descriptor set, so grpc-js only frames them).
 */
export class UpstreamChannels {
  private readonly clients = new Map<string, grpc.Client>();

  private client(address: string): grpc.Client {
    let client = this.clients.get(address);
    if (!client) {
      client = new grpc.Client(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
      this.clients.set(address, client);
    }
    return client;
  }

  /**
   * One unary call, made on the client's channel directly rather than through `Client.makeUnaryRequest`:
   * that path captures a stack trace for every call (for errors only; ~6 % of the edge's CPU per GetTask in
   * the profile) and builds interceptor and event-emitter layers the edge does not use. The channel, the
   * deadline, the metadata and the answer are the same, and so are the errors: an object like grpc-js's
   * (`code`, `details`, `metadata`, message `<code> <NAME>: <details>`), including its two checks of a unary
   * answer (no message, more than one message).
   */
  unary(address: string, path: string, request: Uint8Array, metadata: grpc.Metadata, deadline: Date | undefined): Promise<UnaryResult> {
    return new Promise((resolve, reject) => {
      const call = this.client(address).getChannel().createCall(path, deadline ?? Infinity, undefined, null, undefined);
      let headers: grpc.Metadata | undefined;
      let response: Buffer | undefined;
      call.start(metadata, {
        onReceiveMetadata(received: grpc.Metadata) {
          headers = received;
        },
        onReceiveMessage(message: Buffer) {
          if (response !== undefined) call.cancelWithStatus(grpc.status.UNIMPLEMENTED, 'Too many responses received');
          response = message;
        },
        onReceiveStatus(status: grpc.StatusObject) {
          if (status.code !== grpc.status.OK) reject(callError(status));
          else if (response === undefined) reject(callError({ code: grpc.status.UNIMPLEMENTED, details: 'No message received', metadata: status.metadata }));
          else resolve({ bytes: response, headers: headers ?? new grpc.Metadata() });
        },
      });
      call.startRead();
      call.sendMessageWithContext({}, Buffer.from(request.buffer, request.byteOffset, request.byteLength));
      call.halfClose();
    });
  }

  serverStream(address: string, path: string, request: Uint8Array, metadata: grpc.Metadata, deadline: Date | undefined): grpc.ClientReadableStream<Buffer> {
    return this.client(address).makeServerStreamRequest<Buffer, Buffer>(
      path,
      passThrough,
      passThrough,
      Buffer.from(request.buffer, request.byteOffset, request.byteLength),
      metadata,
      deadline ? { deadline } : {},
    );
  }

  /**
   * grpc.health.v1.Health/Check for the server as a whole (service ""), the name Kubernetes probes and
   * Envoy's grpc_health_check use. Resolves to the status name; a failed call reads as NOT_SERVING.
   */
  async health(address: string, timeoutMs: number): Promise<string> {
    try {
      const { bytes } = await this.unary(address, '/grpc.health.v1.Health/Check', new Uint8Array(), new grpc.Metadata(), new Date(Date.now() + timeoutMs));
      return healthStatusName(bytes);
    } catch {
      return 'NOT_SERVING';
    }
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}

/** The error grpc-js's client gives a failed call (without the caller's stack it appends). */
function callError(status: grpc.StatusObject): grpc.ServiceError {
  return Object.assign(new Error(`${status.code} ${grpc.status[status.code]}: ${status.details}`), status);
}

const healthStatusNames = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

/** Decodes grpc.health.v1.HealthCheckResponse { ServingStatus status = 1; } without a schema. */
function healthStatusName(bytes: Buffer): string {
  let status = 0;
  let i = 0;
  while (i < bytes.length) {
    const tag = bytes[i++]!;
    let value = 0;
    let shift = 0;
    let byte: number;
    do {
      byte = bytes[i++] ?? 0;
      value |= (byte & 0x7f) << shift;
      shift += 7;
    } while (byte & 0x80 && i < bytes.length);
    // Only field 1 as a varint is expected; anything else means the reply is not a health response.
    if (tag !== 0x08) return 'UNKNOWN';
    status = value;
  }
  return healthStatusNames[status] ?? 'UNKNOWN';
}
