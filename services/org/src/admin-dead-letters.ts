import { connectDeadLetters, DeadLetterError, type DeadLetter, type DeadLetters } from '@taskmesh/runtime/events/dead-letters';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '@taskmesh/runtime/errors';
import { decodePageToken, pageOf, pageSizeOf } from '@taskmesh/runtime/paging';

/**
 * The dead letters behind AdminService: the runtime's DeadLetters (what `npm run dlq` runs), on a NATS
 * connection of its own opened at the first call. Without NATS_URL the in-process bus keeps its dead
 * letters in one process's memory and cannot replay them: every call is FAILED_PRECONDITION.
 */
export class AdminDeadLetters {
  private opened: Promise<{ deadLetters: DeadLetters; close(): Promise<void> }> | undefined;

  constructor(private readonly settings: { natsUrl: string | undefined; stream: string; subjectPrefix: string }) {}

  private async open(): Promise<DeadLetters> {
    const natsUrl = this.settings.natsUrl;
    if (!natsUrl) {
      throw new FailedPreconditionError('dead letters are kept by JetStream; this installation runs in-process events (no NATS_URL)', {
        reason: 'DEAD_LETTERS_NEED_JETSTREAM',
      });
    }
    this.opened ??= connectDeadLetters(natsUrl, { stream: this.settings.stream, subjectPrefix: this.settings.subjectPrefix }, 'taskmesh-org-admin');
    try {
      return (await this.opened).deadLetters;
    } catch (err) {
      this.opened = undefined;
      throw err;
    }
  }

  /** A page of the dead letters in stream order; the page token is the last sequence returned. */
  async list(filter: { consumer: string }, page: { pageSize: number; pageToken: string }): Promise<{ items: DeadLetter[]; nextPageToken: string }> {
    const size = Math.min(pageSizeOf(page.pageSize), 200);
    const query = `dead-letters:${filter.consumer}`;
    const after = decodePageToken<number>(page.pageToken, query) ?? 0;
    const letters = await this.run((d) => d.list(filter.consumer ? { consumer: filter.consumer } : {}));
    return pageOf(letters.filter((l) => l.seq > after), size, (l) => l.seq, query);
  }

  async replay(name: string): Promise<DeadLetter> {
    const match = /^deadLetters\/(\d{1,15})$/.exec(name);
    if (!match) throw new InvalidArgumentError({ field: 'name', description: 'must be deadLetters/{sequence}' });
    return this.run((d) => d.replay(Number(match[1])), name);
  }

  async replayAll(filter: { consumer: string }): Promise<DeadLetter[]> {
    return this.run((d) => d.replayAll(filter.consumer ? { consumer: filter.consumer } : {}));
  }

  private async run<T>(action: (deadLetters: DeadLetters) => Promise<T>, name?: string): Promise<T> {
    const deadLetters = await this.open();
    try {
      return await action(deadLetters);
    } catch (err) {
      if (!(err instanceof DeadLetterError)) throw err;
      if (name && err.message.startsWith('no dead letter')) throw new NotFoundError(name);
      throw new FailedPreconditionError(err.message, { reason: 'DEAD_LETTERS_UNAVAILABLE' });
    }
  }

  async close(): Promise<void> {
    const opened = await this.opened?.catch(() => undefined);
    await opened?.close();
  }
}
