import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { createGzip, type Gzip } from 'node:zlib';

/**
 * Writes an export archive (docs/export-format.md): JSON lines, gzip-compressed, into a file of its own
 * temporary directory, so memory stays bounded however large the organization is. Lines are written with
 * the stream's backpressure.
 */
export class ArchiveWriter {
  private records = 0;

  private constructor(
    private readonly directory: string,
    readonly path: string,
    private readonly gzip: Gzip,
    private readonly file: WriteStream,
  ) {}

  static async open(): Promise<ArchiveWriter> {
    const directory = await mkdtemp(join(tmpdir(), 'taskmesh-export-'));
    const path = join(directory, 'archive.jsonl.gz');
    const gzip = createGzip();
    const file = createWriteStream(path);
    gzip.pipe(file);
    return new ArchiveWriter(directory, path, gzip, file);
  }

  /** The header line (not a record). */
  async header(header: Record<string, unknown>): Promise<void> {
    await this.line(header);
  }

  /** One record: `{type, data}`. */
  async record(type: string, data: unknown): Promise<void> {
    this.records += 1;
    await this.line({ type, data });
  }

  get recordCount(): number {
    return this.records;
  }

  /** Ends the archive with its trailer (how many records came before it) and returns its size. */
  async finish(): Promise<{ sizeBytes: number; recordCount: number }> {
    const recordCount = this.records;
    await this.line({ type: 'end', data: { recordCount } });
    this.gzip.end();
    await finished(this.file);
    return { sizeBytes: (await stat(this.path)).size, recordCount };
  }

  /** Removes the file (after its upload, or when the export failed). */
  async discard(): Promise<void> {
    this.gzip.destroy();
    this.file.destroy();
    await rm(this.directory, { recursive: true, force: true });
  }

  private async line(value: unknown): Promise<void> {
    if (!this.gzip.write(`${JSON.stringify(value)}\n`)) await once(this.gzip, 'drain');
  }
}
