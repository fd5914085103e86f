import type { NatsConnection } from '@nats-io/nats-core';
import type { ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { StreamSettings } from '../stream.ts';
import type { MessageHandling } from './message-handling.ts';

export interface JetStreamHandles {
  js: JetStreamClient;
  jsm: JetStreamManager;
  nc?: NatsConnection;
}

export interface PullLoop {
  /** Resolves once the consumer exists on the server (from then on no event is missed). */
  active: Promise<void>;
  /** The connection, once NATS came up. */
  handles(): JetStreamHandles | undefined;
  /** Stops pulling, finishes what is in hand (or, with drainsOnStop, everything pulled ahead), and resolves. */
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Pulls from a consumer in stream order and hands each round to `handle`: one message, or up to `pullAhead`
 * when more are already here (nothing waits for more to arrive). `setUp` creates or updates the consumer
 * and returns its name; it runs again after any interruption (an ephemeral consumer may have expired).
 */
export function startPullLoop(args: {
  ready: Promise<JetStreamHandles>;
  settings: StreamSettings;
  setUp: (handles: JetStreamHandles) => Promise<string>;
  pullAhead: number;
  drainsOnStop: boolean;
  handle: MessageHandling;
  log: Logger;
}): PullLoop {
  const { settings, pullAhead, log } = args;
  let handles: JetStreamHandles | undefined;
  let markActive!: () => void;
  const active = new Promise<void>((resolve) => (markActive = resolve));
  let stopping = false;
  let current: ConsumerMessages | undefined;
  let signalStop!: () => void;
  const stopSignal = new Promise<undefined>((resolve) => (signalStop = () => resolve(undefined)));

  /** Restarts a pull whose server went silent (a JetStream that moved or restarted unseen), as the client advises. */
  function watchHeartbeats(pull: ConsumerMessages): void {
    void (async () => {
      for await (const status of pull.status()) {
        if (status.type === 'heartbeats_missed' && status.count >= 2) {
          log.warn({ missed: status.count }, 'consumer heartbeats missed; pulling anew');
          await pull.close();
          return;
        }
      }
    })().catch(() => undefined);
  }

  /** Hands rounds of messages to `handle` until the pull ends or the loop stops. */
  async function drain(ready: JetStreamHandles, pull: ConsumerMessages): Promise<void> {
    const messages = pull[Symbol.asyncIterator]();
    /** A next() that did not resolve at once: the next round takes it over (never two next() at a time). */
    let waiting: Promise<IteratorResult<JsMsg>> | undefined;
    const next = () => (waiting ??= messages.next());
    for (;;) {
      const first = await next();
      waiting = undefined;
      if (first.done) return;
      const batch = [first.value];
      // The iterator's pending count can include its own status callbacks, so a message counts as here only
      // if next() resolves before the event loop's next turn.
      let ended = false;
      while (batch.length < pullAhead && pull.getPending() > 0) {
        const result = await Promise.race([next(), new Promise<undefined>((resolve) => setImmediate(() => resolve(undefined)))]);
        if (result === undefined) break;
        waiting = undefined;
        if (result.done) {
          ended = true;
          break;
        }
        batch.push(result.value);
      }
      await args.handle(ready.js, batch);
      if (ended) return;
      // Stopping: a draining consumer also handles what it pulled ahead (the closed pull yields it, then
      // ends), so nothing waits for ack_wait; others stop after what is in hand.
      if (stopping && !args.drainsOnStop) {
        await messages.return?.(undefined);
        return;
      }
    }
  }

  const done = (async () => {
    // Stopping must not wait for a NATS that never came up.
    const ready = await Promise.race([args.ready, stopSignal]).catch(() => undefined);
    if (!ready) return;
    handles = ready;
    let consumerName: string | undefined;
    while (!stopping) {
      try {
        if (consumerName === undefined) {
          consumerName = await args.setUp(ready);
          markActive();
        }
        const consumer = await ready.js.consumers.get(settings.stream, consumerName);
        current = await consumer.consume({ max_messages: pullAhead, expires: 5_000 });
        if (stopping) await current.close();
        watchHeartbeats(current);
        await drain(ready, current);
        // The pull ended without an error (closed after missed heartbeats): pull again, without spinning.
        if (!stopping) await sleep(100);
      } catch (err) {
        if (stopping) break;
        consumerName = undefined;
        log.warn({ err }, 'consumer interrupted; resuming');
        await sleep(1_000);
      }
    }
  })();

  return {
    active,
    handles: () => handles,
    async stop() {
      stopping = true;
      signalStop();
      await current?.close();
      await done;
    },
  };
}
