import { nanos } from '@nats-io/nats-core';
import { AckPolicy, DeliverPolicy, JetStreamApiError, type JetStreamManager } from '@nats-io/jetstream';
import { filterSubjectFor } from '../envelope.ts';
import { DEFAULT_MAX_DELIVER, type EventSubscription } from '../event-bus.ts';
import type { StreamSettings } from '../stream.ts';

export interface ConsumerTimings {
  /** How long the server waits for an ack before redelivering (a consumer that died holding an event). */
  ackWaitMs: number;
}

/**
 * A broadcast subscriber's own consumer: ephemeral (the server deletes it after a minute without this
 * subscriber), starting at new messages. Returns its server-assigned name.
 */
export async function createEphemeralConsumer(
  jsm: JetStreamManager,
  settings: StreamSettings,
  subscription: EventSubscription,
  timings: ConsumerTimings,
): Promise<string> {
  const maxDeliver = subscription.maxDeliver ?? DEFAULT_MAX_DELIVER;
  const info = await jsm.consumers.add(settings.stream, {
    // Nothing to redeliver: the server need not track (and the subscriber need not send) acks.
    ack_policy: maxDeliver === 1 ? AckPolicy.None : AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
    ack_wait: nanos(timings.ackWaitMs),
    max_deliver: maxDeliver,
    inactive_threshold: nanos(60_000),
    filter_subject: filterSubjectFor(settings.subjectPrefix, subscription.types),
    description: `Taskmesh broadcast subscriber ${subscription.consumer}`,
  });
  return info.name;
}

/** Creates the durable pull consumer, or updates an existing one to this configuration. */
export async function ensureDurableConsumer(
  jsm: JetStreamManager,
  settings: StreamSettings,
  subscription: EventSubscription,
  timings: ConsumerTimings,
): Promise<void> {
  const maxDeliver = subscription.maxDeliver ?? DEFAULT_MAX_DELIVER;
  const config = {
    ack_wait: nanos(timings.ackWaitMs),
    // Two deliveries of slack over ours: the last delivery's handler may have died before dead-lettering.
    max_deliver: maxDeliver + 2,
    max_ack_pending: 1_000,
    description: `Taskmesh consumer ${subscription.consumer}`,
  };
  const filterSubject = filterSubjectFor(settings.subjectPrefix, subscription.types);
  try {
    await jsm.consumers.add(settings.stream, {
      ...config,
      durable_name: subscription.consumer,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: filterSubject,
    });
  } catch (err) {
    if (!(err instanceof JetStreamApiError)) throw err;
    // It exists with another configuration (an older release of the service): bring it up to date.
    const existing = await jsm.consumers.info(settings.stream, subscription.consumer);
    const widened = existing.config.filter_subject === filterSubject ? {} : { filter_subject: filterSubject };
    try {
      await jsm.consumers.update(settings.stream, subscription.consumer, { ...config, ...widened });
    } catch (updateErr) {
      // nats-server 2.9 cannot change a filter: say what to do instead of silently missing event types.
      throw new Error(
        `consumer ${subscription.consumer} filters ${existing.config.filter_subject ?? '(all)'} but needs ${filterSubject}; ` +
          `delete it (it is recreated from the start of the stream; handlers skip what they processed) or upgrade NATS`,
        { cause: updateErr },
      );
    }
  }
}
