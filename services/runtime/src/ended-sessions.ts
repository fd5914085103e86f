import { randomUUID } from 'node:crypto';
import { SessionsEnded } from '@taskmesh/gen/taskmesh/identity/v1/events.js';
import type { IdentityServiceClient } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import type { ReceivedEvent } from './events/envelope.ts';
import type { EventSubscription } from './events/event-bus.ts';
import { callUnary } from './grpc-client.ts';

export const SESSIONS_ENDED_EVENT = 'taskmesh.identity.v1.SessionsEnded';

export interface EndedSession {
  sessionId: string;
  /** Epoch ms after which no access token of the session is valid anyway. */
  forgetAt: number;
}

export interface EndedSessionsOptions {
  /** The current list (identity's ListEndedSessions, or its own table inside identity). */
  load: () => Promise<EndedSession[]>;
  /** The list is loaded again this often, behind the events, in case one was missed. Default 5 min. */
  reloadIntervalMs?: number;
  /** Ids remembered at most; past it the ones closest to being forgotten go first. Default 500,000. */
  maxEntries?: number;
}

/**
 * The ids of ended sessions whose access tokens have not expired yet, as this process knows them: loaded
 * from identity before the first token is checked, then kept current by SessionsEnded events (and a
 * reload now and then). Each id is forgotten once its tokens would have expired, so memory stays bounded by
 * what ends within one access-token lifetime.
 */
export class EndedSessions {
  private readonly forgetAt = new Map<string, number>();
  private loadedAt = 0;
  private loading: Promise<void> | undefined;
  private readonly reloadIntervalMs: number;
  private readonly maxEntries: number;

  constructor(private readonly options: EndedSessionsOptions) {
    this.reloadIntervalMs = options.reloadIntervalMs ?? 5 * 60_000;
    this.maxEntries = options.maxEntries ?? 500_000;
  }

  /** True once the list has been loaded at least once. */
  get loaded(): boolean {
    return this.loadedAt > 0;
  }

  /** Loads the list unless it already was; rejects (and the next call retries) when the source fails. */
  async ensureLoaded(): Promise<void> {
    if (!this.loaded) await this.reload();
  }

  private reload(): Promise<void> {
    this.loading ??= this.options
      .load()
      .then((sessions) => {
        for (const s of sessions) this.add(s.sessionId, s.forgetAt);
        this.loadedAt = Date.now();
      })
      .finally(() => {
        this.loading = undefined;
      });
    return this.loading;
  }

  add(sessionId: string, forgetAt: number): void {
    if (forgetAt <= Date.now()) return;
    const known = this.forgetAt.get(sessionId);
    if (known !== undefined && known >= forgetAt) return;
    this.forgetAt.delete(sessionId);
    this.forgetAt.set(sessionId, forgetAt);
    this.sweep();
  }

  /** Whether tokens of this session must be refused. */
  has(sessionId: string): boolean {
    const now = Date.now();
    if (this.loaded && now - this.loadedAt > this.reloadIntervalMs && !this.loading) {
      // Behind the events, so it never holds a call up; a failure keeps the current list until next time.
      this.reload().catch(() => undefined);
    }
    const until = this.forgetAt.get(sessionId);
    if (until === undefined) return false;
    if (until > now) return true;
    this.forgetAt.delete(sessionId);
    return false;
  }

  get size(): number {
    return this.forgetAt.size;
  }

  /** Drops forgotten ids from the front (ids arrive roughly in the order they are forgotten), then any excess. */
  private sweep(): void {
    const now = Date.now();
    for (const [id, until] of this.forgetAt) {
      if (until > now && this.forgetAt.size <= this.maxEntries) break;
      this.forgetAt.delete(id);
    }
  }
}

/** Adds the sessions of a SessionsEnded event; false for any other event. */
export function recordEndedSessions(list: EndedSessions, event: ReceivedEvent): boolean {
  if (event.type !== SESSIONS_ENDED_EVENT) return false;
  const ended = SessionsEnded.decode(event.payload);
  const forgetAt = ended.forgetTime?.getTime() ?? 0;
  for (const id of ended.sessionIds) list.add(id, forgetAt);
  return true;
}

/**
 * Feeds this process's list from SessionsEnded events. Broadcast, like membership eviction: every replica
 * keeps its own list, so every replica must see every event; one missed is caught by the periodic reload.
 */
export function endedSessionsSubscription(list: EndedSessions, service: string): EventSubscription {
  return {
    consumer: `${service}-sessions-${randomUUID().slice(0, 8)}`,
    delivery: 'broadcast',
    types: [SESSIONS_ENDED_EVENT],
    maxDeliver: 1,
    handle: async (event) => {
      recordEndedSessions(list, event);
    },
  };
}

/** The `load` of every service but identity: ListEndedSessions through the identity stub. */
export function endedSessionsFromIdentity(client: IdentityServiceClient, options: { timeoutMs?: number } = {}): () => Promise<EndedSession[]> {
  return async () => {
    const res = await callUnary(client, client.listEndedSessions, {}, { timeoutMs: options.timeoutMs ?? 5_000 });
    return res.endedSessions.map((s) => ({ sessionId: s.sessionId, forgetAt: s.forgetTime?.getTime() ?? 0 }));
  };
}
