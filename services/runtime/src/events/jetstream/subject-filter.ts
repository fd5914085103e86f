import { subjectParts } from '../envelope.ts';

/**
 * A test on the subject alone: false only for a subject that cannot carry one of `types`, so it can be skipped
 * undecoded (one filter per consumer on nats-server 2.9 may be wider than the handled types). Anything
 * unexpected passes, to be decoded and checked.
 */
export function subjectMayCarry(subjectPrefix: string, types: readonly string[]): (subject: string) => boolean {
  /** `<service> <suffix>` of every handled type's subject (`<prefix>.<service>.<org>.<suffix>`). */
  let handled: Set<string> | undefined;
  try {
    handled = new Set(
      types.map((type) => {
        const { service, suffix } = subjectParts(type);
        return `${service} ${suffix}`;
      }),
    );
  } catch {
    handled = undefined; // a type without a subject: the consumer's set-up reports it
  }
  const start = `${subjectPrefix}.`;
  return (subject) => {
    if (!handled || !subject.startsWith(start)) return true;
    const tokens = subject.slice(start.length).split('.');
    if (tokens.length < 3) return true;
    return handled.has(`${tokens[0]} ${tokens.slice(2).join('.')}`);
  };
}
