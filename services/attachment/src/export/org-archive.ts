import { Metadata, type Client } from '@grpc/grpc-js';
import { fromBinary, toJson, type FileRegistry } from '@bufbuild/protobuf';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Attachment } from '@taskmesh/gen/taskmesh/attachment/v1/attachment.js';
import { AuditServiceService } from '@taskmesh/gen/taskmesh/audit/v1/audit_service.js';
import { BoardServiceService } from '@taskmesh/gen/taskmesh/board/v1/board_service.js';
import { OrgServiceService } from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import { TaskServiceService } from '@taskmesh/gen/taskmesh/task/v1/task_service.js';
import { forkForOrg } from '@taskmesh/runtime/tenancy';
import { attachmentMessage } from '../attachment-messages.ts';
import type { ArchiveWritten, ExportJob } from '../db/export-operations.ts';
import { AttachmentRecord, type ExportOperationRecord } from '../db/entities.ts';
import { archiveKeyOf, EXPORT_FORMAT_VERSION, OBJECT_CHUNK_BYTES, operationNameOf } from '../domain/export-rules.ts';
import { userNameOf } from '../resource-names.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import { ArchiveWriter } from './archive-writer.ts';
import type { Checkpoint } from './export-worker.ts';

/** A service that owns part of an organization's data and streams it through its ExportOrganizationData. */
interface ExportSource {
  client: Client;
  method: { path: string; requestSerialize: (value: { name: string }) => Buffer };
  /** The stream's response message: a oneof of records, each field name being the record's type. */
  responseType: string;
}

export interface OrgArchiveDeps {
  /** The service's root EntityManager (attachments are read bound to the job's org). */
  em: EntityManager;
  store: ObjectStore;
  /** The descriptor set: records are written as the REST edge's JSON of the API messages. */
  registry: FileRegistry;
  clients: { org: Client; board: Client; task: Client; audit: Client };
  /** Longest a single owner's stream may take. */
  streamTimeoutMs: number;
}

const PAGE = 500;
const boardOf = (name: string) => /^organizations\/[^/]+\/boards\/[^/]+/.exec(name)?.[0] ?? '';

/**
 * Writes one organization's archive and uploads it: org and members (org service), boards and lists (board),
 * tasks and comments (task), attachment metadata and objects (here), audit log (audit), in that order. Each
 * owner streams its own records; nothing here runs inside a transaction. Tasks, comments and attachments under
 * a board that is not exported (deleted) are left out, as the API no longer shows them. `checkpoint` runs before
 * each owner's stream and every PAGE records of it, before each object and before and after the upload: a
 * cancelled export stops there (the temporary file is removed; the worker deletes what was uploaded).
 */
export async function writeOrgArchive(
  deps: OrgArchiveDeps,
  job: ExportJob,
  operation: ExportOperationRecord,
  signal: AbortSignal,
  checkpoint: Checkpoint,
): Promise<ArchiveWritten> {
  const orgName = `organizations/${job.orgId}`;
  const writer = await ArchiveWriter.open();
  const record = async (type: string, data: unknown) => {
    await writer.record(type, data);
    if (writer.recordCount % PAGE === 0) await checkpoint('records');
  };
  try {
    await checkpoint('records');
    await writer.header({
      format: 'taskmesh.export',
      version: EXPORT_FORMAT_VERSION,
      organization: orgName,
      operation: operationNameOf(job.orgId, job.operationId),
      requester: userNameOf(operation.requestedBy),
      createTime: new Date().toISOString(),
    });
    const source = (client: Client, method: ExportSource['method'], responseType: string): ExportSource => ({ client, method, responseType });
    const boards = new Set<string>();
    const underExportedBoard = (data: unknown) => boards.has(boardOf(String((data as { name?: unknown }).name ?? '')));

    for await (const { type, data } of recordsOf(deps, source(deps.clients.org, OrgServiceService.exportOrganizationData, 'taskmesh.org.v1.ExportOrganizationDataResponse'), orgName, signal)) {
      await record(type, data);
    }
    await checkpoint('records');
    for await (const { type, data } of recordsOf(deps, source(deps.clients.board, BoardServiceService.exportOrganizationData, 'taskmesh.board.v1.ExportOrganizationDataResponse'), orgName, signal)) {
      if (type === 'board') boards.add(String((data as { name: string }).name));
      await record(type, data);
    }
    await checkpoint('records');
    for await (const { type, data } of recordsOf(deps, source(deps.clients.task, TaskServiceService.exportOrganizationData, 'taskmesh.task.v1.ExportOrganizationDataResponse'), orgName, signal)) {
      if (underExportedBoard(data)) await record(type, data);
    }
    await writeAttachments(deps, writer, job.orgId, boards, signal, checkpoint);
    await checkpoint('records');
    for await (const { type, data } of recordsOf(deps, source(deps.clients.audit, AuditServiceService.exportOrganizationData, 'taskmesh.audit.v1.ExportOrganizationDataResponse'), orgName, signal)) {
      await record(type, data);
    }

    const { sizeBytes, recordCount } = await writer.finish();
    await checkpoint('upload');
    const objectKey = archiveKeyOf(job.orgId, job.operationId);
    const day = operation.createdAt.toISOString().slice(0, 10);
    await deps.store.putFile(objectKey, writer.path, {
      sizeBytes,
      contentType: 'application/gzip',
      filename: `taskmesh-export-${job.orgId}-${day}.jsonl.gz`,
    }, signal);
    await checkpoint('uploaded');
    return { objectKey, sizeBytes, recordCount };
  } finally {
    await writer.discard();
  }
}

/** One owner's stream, each message turned into `{type, data}`: the set field's JSON name and its JSON. */
async function* recordsOf(deps: OrgArchiveDeps, source: ExportSource, orgName: string, signal: AbortSignal): AsyncGenerator<{ type: string; data: unknown }> {
  const schema = deps.registry.getMessage(source.responseType);
  if (!schema) throw new Error(`${source.responseType} is not in the descriptor set`);
  const call = source.client.makeServerStreamRequest(
    source.method.path,
    source.method.requestSerialize,
    (bytes: Buffer) => bytes,
    { name: orgName },
    new Metadata(),
    { deadline: Date.now() + deps.streamTimeoutMs },
  );
  const cancel = () => call.cancel();
  signal.addEventListener('abort', cancel, { once: true });
  try {
    for await (const bytes of call as AsyncIterable<Buffer>) {
      const json = toJson(schema, fromBinary(schema, bytes), { registry: deps.registry, alwaysEmitImplicit: true }) as Record<string, unknown>;
      for (const [type, data] of Object.entries(json)) yield { type, data };
    }
  } finally {
    signal.removeEventListener('abort', cancel);
    call.cancel();
  }
}

/** Every attachment's metadata, each READY one followed by its object in base64 chunks. */
async function writeAttachments(
  deps: OrgArchiveDeps,
  writer: ArchiveWriter,
  orgId: string,
  boards: Set<string>,
  signal: AbortSignal,
  checkpoint: Checkpoint,
): Promise<void> {
  const schema = deps.registry.getMessage('taskmesh.attachment.v1.Attachment');
  if (!schema) throw new Error('taskmesh.attachment.v1.Attachment is not in the descriptor set');
  let after: { createdAt: Date; id: string } | undefined;
  for (;;) {
    await checkpoint('records');
    const where = after ? { $or: [{ createdAt: { $gt: after.createdAt } }, { createdAt: after.createdAt, id: { $gt: after.id } }] } : {};
    const rows = await forkForOrg(deps.em, orgId).find(AttachmentRecord, where, { orderBy: { createdAt: 'asc', id: 'asc' }, limit: PAGE });
    for (const row of rows) {
      const message = attachmentMessage(row);
      if (!boards.has(boardOf(message.name))) continue;
      const bytes = Attachment.encode(message).finish();
      await writer.record('attachment', toJson(schema, fromBinary(schema, bytes), { registry: deps.registry, alwaysEmitImplicit: true }));
      if (row.state !== 'READY') continue;
      await checkpoint('object');
      await writeObject(deps, writer, message.name, row.objectKey, signal);
    }
    if (rows.length < PAGE) return;
    const last = rows[rows.length - 1]!;
    after = { createdAt: last.createdAt, id: last.id };
  }
}

/** An object gone from the store (deleted meanwhile) leaves its metadata without content records. */
async function writeObject(deps: OrgArchiveDeps, writer: ArchiveWriter, attachment: string, key: string, signal: AbortSignal): Promise<void> {
  const body = await deps.store.read(key, signal);
  if (!body) return;
  let offset = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async (bytes: Buffer) => {
    await writer.record('attachmentContent', { attachment, offset: String(offset), content: bytes.toString('base64') });
    offset += bytes.length;
  };
  for await (const chunk of body) {
    pending.push(Buffer.from(chunk));
    pendingBytes += chunk.length;
    while (pendingBytes >= OBJECT_CHUNK_BYTES) {
      const all = Buffer.concat(pending);
      await flush(all.subarray(0, OBJECT_CHUNK_BYTES));
      const rest = all.subarray(OBJECT_CHUNK_BYTES);
      pending = rest.length > 0 ? [rest] : [];
      pendingBytes = rest.length;
    }
  }
  if (pendingBytes > 0 || offset === 0) await flush(Buffer.concat(pending));
}
