import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import S3rver from '@20minutes/s3rver';
import s3rverAccount from '@20minutes/s3rver/lib/models/account.js';

/** The embedded S3-compatible store: s3rver's request handler behind a gate that admits signed requests only. */
export interface EmbeddedObjectServer {
  /** http://host:port */
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  close(): Promise<void>;
}

/**
 * s3rver lets requests without any signature through (as anonymous): ours never need that, so they are
 * refused here. Signed requests, header or presigned query (SigV4, expiry included), are verified by s3rver.
 */
function isSigned(req: IncomingMessage): boolean {
  if (req.headers.authorization) return true;
  const query = new URL(req.url ?? '/', 'http://local').searchParams;
  return query.has('X-Amz-Algorithm') || query.has('Signature');
}

/**
 * Browsers upload and download straight from the store, from the web app's origin: CORS for PUT/GET/HEAD
 * with the headers the upload signs. The signature, not the origin, is what grants access.
 */
const CORS = `<CORSConfiguration>
  <CORSRule>
    <AllowedOrigin>*</AllowedOrigin>
    <AllowedMethod>PUT</AllowedMethod>
    <AllowedMethod>GET</AllowedMethod>
    <AllowedMethod>HEAD</AllowedMethod>
    <AllowedHeader>content-type</AllowedHeader>
    <AllowedHeader>content-disposition</AllowedHeader>
    <ExposeHeader>ETag</ExposeHeader>
    <MaxAgeSeconds>600</MaxAgeSeconds>
  </CORSRule>
</CORSConfiguration>`;

const ACCESS_DENIED = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>';

/**
 * Starts the store with its data under `directory` and the bucket created. Credentials: the given ones, or a
 * random pair for this process (the service is then the only one that can sign for it). s3rver's own
 * well-known default key is revoked.
 */
export async function startEmbeddedObjectServer(options: {
  directory: string;
  host: string;
  port: number;
  bucket: string;
  accessKeyId?: string;
  secretAccessKey?: string;
}): Promise<EmbeddedObjectServer> {
  mkdirSync(options.directory, { recursive: true });
  const accessKeyId = options.accessKeyId ?? `TM${randomBytes(9).toString('hex').toUpperCase()}`;
  const secretAccessKey = options.secretAccessKey ?? randomBytes(30).toString('base64url');
  s3rverAccount.DUMMY_ACCOUNT.revokeAccessKey('S3RVER');
  s3rverAccount.DUMMY_ACCOUNT.createKeyPair(accessKeyId, secretAccessKey);
  const s3 = new S3rver({
    directory: options.directory,
    silent: true,
    vhostBuckets: false,
    configureBuckets: [{ name: options.bucket, configs: [CORS] }],
  });
  await s3.configureBuckets();
  const handle = s3.callback();
  const server: Server = createServer((req, res) => {
    if (!isSigned(req) && req.method !== 'OPTIONS') {
      res.writeHead(403, { 'content-type': 'application/xml' }).end(ACCESS_DENIED);
      return;
    }
    handle(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    endpoint: `http://${host}:${port}`,
    accessKeyId,
    secretAccessKey,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** $TASKMESH_DATA_DIR/blobs */
export function embeddedBlobDirectory(dataDir: string): string {
  return join(dataDir, 'blobs');
}
