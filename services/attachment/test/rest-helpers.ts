import { expect } from 'vitest';

/** Helpers of the attachment service's REST tests (attachments, organization export) against a stack's edge. */

export interface Reply {
  status: number;
  body: Record<string, any>;
}

/** One REST call to the edge at `baseUrl` with the caller's token; the status and the parsed JSON body. */
export async function restAt(baseUrl: string, token: string, method: string, path: string, body?: unknown): Promise<Reply> {
  const res = await fetch(`${baseUrl}/v1/${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : {} };
}

/** Polls `check` until it returns something, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined | false>, what: string, timeoutMs = 15_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const result = await check();
    if (result !== undefined && result !== false) return result;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Create, upload to the presigned URL and complete: a READY attachment with these bytes; its name. */
export async function readyAttachmentAt(
  baseUrl: string,
  token: string,
  task: string,
  bytes: Uint8Array,
  file: { filename: string; contentType: string },
): Promise<string> {
  const created = await restAt(baseUrl, token, 'POST', `${task}/attachments`, { ...file, sizeBytes: String(bytes.length) });
  expect(created.status).toBe(200);
  const put = await fetch(created.body.uploadUrl, { method: 'PUT', headers: created.body.uploadHeaders, body: bytes });
  expect(put.status).toBe(200);
  const completed = await restAt(baseUrl, token, 'POST', `${created.body.attachment.name}:complete`, {});
  expect(completed.status).toBe(200);
  return completed.body.attachment.name as string;
}
