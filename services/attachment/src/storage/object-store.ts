import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  NotFound,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { createReadStream } from 'node:fs';

/** Where the objects live and how to reach them: one path through the S3 API in every mode. */
export interface ObjectStoreSettings {
  /** Endpoint the service talks to; undefined for AWS itself. */
  endpoint: string | undefined;
  /** Endpoint presigned URLs name (what clients reach); defaults to `endpoint`. */
  publicEndpoint: string | undefined;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: boolean;
}

export interface StoredObject {
  sizeBytes: number;
  contentType: string;
  contentDisposition: string;
}

export interface PresignedUpload {
  url: string;
  /** Headers the PUT must send as they are: they are signed. */
  headers: Record<string, string>;
  expireTime: Date;
}

/** RFC 6266 value: an ASCII fallback plus the exact UTF-8 name (RFC 8187). */
export function contentDispositionFor(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}

/**
 * The object store of the attachment service. Presigning is local computation (no network); HEAD and DELETE
 * are calls to the store, so callers make them outside any database transaction.
 */
export class ObjectStore {
  private readonly client: S3Client;
  private readonly presigner: S3Client;

  constructor(private readonly settings: ObjectStoreSettings) {
    const base = {
      region: settings.region,
      // The SDK's default would put a CRC32 of the (empty) presign-time body into every presigned PUT URL,
      // which S3 then checks against the uploaded bytes; checksums only where an operation requires them.
      requestChecksumCalculation: 'WHEN_REQUIRED' as const,
      forcePathStyle: settings.forcePathStyle,
      credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey },
    };
    this.client = new S3Client({ ...base, ...(settings.endpoint ? { endpoint: settings.endpoint } : {}) });
    const publicEndpoint = settings.publicEndpoint ?? settings.endpoint;
    this.presigner = publicEndpoint === settings.endpoint
      ? this.client
      : new S3Client({ ...base, ...(publicEndpoint ? { endpoint: publicEndpoint } : {}) });
  }

  get bucket(): string {
    return this.settings.bucket;
  }

  /**
   * A PUT URL for the object. Content-Length, Content-Type and Content-Disposition are signed headers the
   * client must send as given, so the store itself refuses another size (no disk filled past the limit) or
   * type. It keeps type and disposition with the object and answers every download with them: a download
   * always comes as `attachment` with the uploader's file name. (Stored rather than asked for per download
   * with response-content-disposition, whose RFC 8187 value s3rver cannot verify.)
   */
  async presignUpload(key: string, object: { contentType: string; filename: string; sizeBytes: number }, ttlSeconds: number): Promise<PresignedUpload> {
    const disposition = contentDispositionFor(object.filename);
    const command = new PutObjectCommand({
      Bucket: this.settings.bucket,
      Key: key,
      ContentType: object.contentType,
      ContentDisposition: disposition,
      ContentLength: object.sizeBytes,
    });
    const url = await getSignedUrl(this.presigner, command, {
      expiresIn: ttlSeconds,
      signableHeaders: new Set(['content-type', 'content-disposition', 'content-length']),
    });
    return {
      url,
      headers: { 'content-type': object.contentType, 'content-disposition': disposition },
      expireTime: new Date(Date.now() + ttlSeconds * 1000),
    };
  }

  async presignDownload(key: string, ttlSeconds: number): Promise<{ url: string; expireTime: Date }> {
    const url = await getSignedUrl(this.presigner, new GetObjectCommand({ Bucket: this.settings.bucket, Key: key }), { expiresIn: ttlSeconds });
    return { url, expireTime: new Date(Date.now() + ttlSeconds * 1000) };
  }

  /** The object's size and type, or undefined when there is none. */
  async stat(key: string): Promise<StoredObject | undefined> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.settings.bucket, Key: key }));
      return { sizeBytes: head.ContentLength ?? 0, contentType: head.ContentType ?? '', contentDisposition: head.ContentDisposition ?? '' };
    } catch (err) {
      if (err instanceof NotFound || (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 404)) return undefined;
      throw err;
    }
  }

  /** Uploads a local file as the object (an export archive), with the type and download name it is served with. */
  async putFile(key: string, path: string, object: { sizeBytes: number; contentType: string; filename: string }, signal?: AbortSignal): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.settings.bucket,
        Key: key,
        Body: createReadStream(path),
        ContentLength: object.sizeBytes,
        ContentType: object.contentType,
        ContentDisposition: contentDispositionFor(object.filename),
      }),
      signal ? { abortSignal: signal } : {},
    );
  }

  /** The object's bytes as a stream, or undefined when there is none. */
  async read(key: string, signal?: AbortSignal): Promise<AsyncIterable<Uint8Array> | undefined> {
    try {
      const object = await this.client.send(new GetObjectCommand({ Bucket: this.settings.bucket, Key: key }), signal ? { abortSignal: signal } : {});
      return object.Body as AsyncIterable<Uint8Array> | undefined;
    } catch (err) {
      if (err instanceof NoSuchKey || (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 404)) return undefined;
      throw err;
    }
  }

  /** Deletes the object; deleting one that is not there succeeds (S3 semantics), so retries are safe. */
  async remove(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.settings.bucket, Key: key }));
  }

  close(): void {
    this.client.destroy();
    if (this.presigner !== this.client) this.presigner.destroy();
  }
}
