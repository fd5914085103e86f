import type { Logger } from 'pino';
import type { ConsumerStats, EventSubscription, RunningSubscription } from '../event-bus.ts';
import { initConsumerCounters, observeConsumerPending } from '../metrics.ts';
import type { StreamSettings } from '../stream.ts';
import { createEphemeralConsumer, ensureDurableConsumer, type ConsumerTimings } from './consumer-setup.ts';
import { broadcastPolicy, workQueuePolicy, type DeliveryPolicy } from './delivery-policy.ts';
import { messageHandling } from './message-handling.ts';
import { startPullLoop, type JetStreamHandles, type PullLoop } from './pull-loop.ts';

export interface JetStreamSubscriberArgs {
  ready: Promise<JetStreamHandles>;
  settings: StreamSettings;
  timings: ConsumerTimings;
  subscription: EventSubscription;
  log: Logger;
}

export type RunningJetStreamSubscriber = RunningSubscription & { active: Promise<void> };

/**
 * A durable pull consumer whose events replicas share: every event at least once from the start of the
 * stream, explicit acks, redelivery with backoff, dead letters (workQueuePolicy). Its backlog is a metric.
 */
export function startWorkQueueConsumer(args: JetStreamSubscriberArgs): RunningJetStreamSubscriber {
  const { settings, subscription, timings } = args;
  initConsumerCounters(subscription.consumer);
  const log = args.log.child({ consumer: subscription.consumer });
  const stats: ConsumerStats = { handled: 0, failed: 0, deadLettered: 0 };
  const policy = workQueuePolicy(subscription, settings, stats, log);
  /** Stops reporting the consumer's num_pending (metrics.ts). */
  let stopObserving: (() => void) | undefined;
  const loop = startPullLoop({
    ...pulling(args, policy, stats, log),
    setUp: async ({ jsm }) => {
      await ensureDurableConsumer(jsm, settings, subscription, timings);
      stopObserving?.();
      stopObserving = observeConsumerPending(subscription.consumer, async () => (await jsm.consumers.info(settings.stream, subscription.consumer)).num_pending);
      return subscription.consumer;
    },
  });
  return running(subscription, stats, loop, policy, () => stopObserving?.());
}

/**
 * A subscriber of its own (every replica, every WatchBoard stream): an ephemeral consumer from new events on,
 * deleted on stop; no dead letters (broadcastPolicy). For work that concerns the process itself.
 */
export function startBroadcastSubscription(args: JetStreamSubscriberArgs): RunningJetStreamSubscriber {
  const { settings, subscription, timings } = args;
  const log = args.log.child({ consumer: subscription.consumer });
  const stats: ConsumerStats = { handled: 0, failed: 0, deadLettered: 0 };
  const policy = broadcastPolicy(subscription, log);
  /** The ephemeral consumer's server-assigned name, once created (again after an outage). */
  let consumerName: string | undefined;
  const loop = startPullLoop({
    ...pulling(args, policy, stats, log),
    setUp: async ({ jsm }) => (consumerName = await createEphemeralConsumer(jsm, settings, subscription, timings)),
  });
  return running(subscription, stats, loop, policy, undefined, async () => {
    const jsm = loop.handles()?.jsm;
    if (consumerName && jsm) await jsm.consumers.delete(settings.stream, consumerName).catch(() => undefined);
  });
}

function pulling(args: JetStreamSubscriberArgs, policy: DeliveryPolicy, stats: ConsumerStats, log: Logger) {
  return {
    ready: args.ready,
    settings: args.settings,
    pullAhead: policy.pullAhead,
    drainsOnStop: policy.drainsOnStop,
    handle: messageHandling({ subscription: args.subscription, subjectPrefix: args.settings.subjectPrefix, policy, stats, log }),
    log,
  };
}

function running(
  subscription: EventSubscription,
  stats: ConsumerStats,
  loop: PullLoop,
  policy: DeliveryPolicy,
  beforeStop: (() => void) | undefined,
  afterStop?: () => Promise<void>,
): RunningJetStreamSubscriber {
  return {
    consumer: subscription.consumer,
    active: loop.active,
    stats: () => ({ ...stats }),
    async stop() {
      beforeStop?.();
      await loop.stop();
      // Acks that were not waited for go out before the caller closes the connection or exits.
      const connection = loop.handles()?.nc;
      if (policy.quickAcks && connection && !connection.isClosed()) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([connection.flush(), new Promise((resolve) => (timer = setTimeout(resolve, 2_000)))])
          .catch(() => undefined)
          .finally(() => clearTimeout(timer));
      }
      await afterStop?.();
    },
  };
}
