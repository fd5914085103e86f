import { assertSubscription } from './event-bus.ts';
import { startBroadcastSubscription, startWorkQueueConsumer, type JetStreamSubscriberArgs, type RunningJetStreamSubscriber } from './jetstream/subscribers.ts';

export type { ConsumerTimings } from './jetstream/consumer-setup.ts';
export { DEAD_LETTER_HEADERS } from './jetstream/dead-letter.ts';

/**
 * One JetStream subscriber for a subscription: a durable work-queue consumer ('shared', the default) or a
 * broadcast subscription, built from the parts in ./jetstream/ (consumer set-up, pull loop, message
 * handling, delivery policy, dead letters). stop() drains; `active` resolves once the consumer exists.
 */
export function startJetStreamConsumer(args: JetStreamSubscriberArgs): RunningJetStreamSubscriber {
  assertSubscription(args.subscription);
  return args.subscription.delivery === 'broadcast' ? startBroadcastSubscription(args) : startWorkQueueConsumer(args);
}
