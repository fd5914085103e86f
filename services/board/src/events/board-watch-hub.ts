import type { EventEnvelope } from '@taskmesh/runtime/events/envelope';
import { ResourceExhaustedError, UnavailableError } from '@taskmesh/runtime/errors';
import { routeFor, type WatchTarget } from './watch-routing.ts';

/** Events waiting for one slow watcher before its stream is ended (it can reconnect and reload the board). */
const MAX_QUEUED_EVENTS = 1_000;

export interface BoardWatch {
  /** The board's events in commit order; ends when the board is deleted, the watcher's membership or org ends, the call is cancelled, or the hub closes. */
  events: AsyncIterable<EventEnvelope>;
  close(): void;
}

interface Watcher {
  target: WatchTarget;
  /** Events that occurred before the watch began are not this watcher's (a consumer replaying old events). */
  since: number;
  queue: EventEnvelope[];
  ended: boolean;
  failure: Error | undefined;
  wake: (() => void) | undefined;
}

function shuttingDown(): Error {
  return new UnavailableError('the server is shutting down; reload the board and watch again', { reason: 'SHUTTING_DOWN' });
}

/**
 * Fans the events this process consumes out to the WatchBoard streams it serves. Fed by one event-bus
 * subscription per process (see server.ts); deliver() never blocks and never throws, so a slow or broken
 * watcher cannot hold up the bus or other watchers.
 */
export class BoardWatchHub {
  private readonly watchers = new Set<Watcher>();
  private closed = false;

  get size(): number {
    return this.watchers.size;
  }

  async deliver(event: EventEnvelope): Promise<void> {
    for (const watcher of this.watchers) {
      if (event.occurTime.getTime() < watcher.since) continue;
      const route = routeFor(event, watcher.target);
      if (route === 'ignore') continue;
      if (route === 'deliver' || route === 'deliver-and-end') {
        if (watcher.queue.length >= MAX_QUEUED_EVENTS) {
          this.end(watcher, new ResourceExhaustedError('the watcher fell behind the board; reload it and watch again', { reason: 'WATCH_OVERFLOW' }));
          continue;
        }
        watcher.queue.push(event);
      }
      if (route === 'end' || route === 'deliver-and-end') this.end(watcher);
      watcher.wake?.();
    }
  }

  watch(target: WatchTarget & { signal: AbortSignal }): BoardWatch {
    const watcher: Watcher = {
      target: { board: target.board, organization: target.organization, user: target.user },
      // Commit times come from the writing service's clock; allow it a little skew behind ours.
      since: Date.now() - 1_000,
      queue: [],
      ended: this.closed,
      failure: this.closed ? shuttingDown() : undefined,
      wake: undefined,
    };
    this.watchers.add(watcher);
    const onAbort = () => this.end(watcher);
    target.signal.addEventListener('abort', onAbort, { once: true });
    if (target.signal.aborted) this.end(watcher);
    const close = () => {
      target.signal.removeEventListener('abort', onAbort);
      this.end(watcher);
      this.watchers.delete(watcher);
    };
    async function* events(): AsyncGenerator<EventEnvelope> {
      for (;;) {
        const next = watcher.queue.shift();
        if (next) {
          yield next;
          continue;
        }
        if (watcher.failure) throw watcher.failure;
        if (watcher.ended) return;
        await new Promise<void>((resolve) => {
          watcher.wake = resolve;
        });
        watcher.wake = undefined;
      }
    }
    return { events: events(), close };
  }

  /**
   * Ends every stream (server shutdown), so in-flight watch calls finish instead of holding the drain: what was
   * queued is delivered, then the stream fails with UNAVAILABLE, which tells the client to watch again.
   */
  close(): void {
    this.closed = true;
    for (const watcher of this.watchers) {
      watcher.failure ??= shuttingDown();
      this.end(watcher);
    }
  }

  private end(watcher: Watcher, failure?: Error): void {
    if (watcher.ended && !failure) return;
    watcher.ended = true;
    if (failure) {
      watcher.queue.length = 0;
      watcher.failure = failure;
    }
    this.watchers.delete(watcher);
    watcher.wake?.();
  }
}
