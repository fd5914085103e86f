import * as grpc from '@grpc/grpc-js';

const passThrough = (bytes: Buffer): Buffer => bytes;

/**
 * Every request of the edge to one service shares one HTTP/2 connection. With HTTP/2's default 64 KiB
 * receive window for the whole connection, concurrent large answers (a 500-task page is ~150 KB) crawl
 * through it one window update at a time: the board benchmark (npm run bench) stalled at ~55 loads/s with the
 * CPU half idle. A larger window lets them flow; memory per connection is bounded by it.
 */
const CHANNEL_OPTIONS: grpc.ChannelOptions = { 'grpc-node.flow_control_window': 8 * 1024 * 1024 };

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

  unary(address: string, path: string, request: Uint8Array, metadata: grpc.Metadata, deadline: Date | undefined): Promise<UnaryResult> {
    return new Promise((resolve, reject) => {
      let headers = new grpc.Metadata();
      const call = this.client(address).makeUnaryRequest<Buffer, Buffer>(
        path,
        passThrough,
        passThrough,
        Buffer.from(request.buffer, request.byteOffset, request.byteLength),
        metadata,
        deadline ? { deadline } : {},
        (error, response) => {
          if (error) reject(error);
          else resolve({ bytes: response ?? Buffer.alloc(0), headers });
        },
      );
      call.on('metadata', (received: grpc.Metadata) => {
        headers = received;
      });
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
