// The dead-letter admin command: `npm run dlq -- list [--consumer NAME] [--json]`, `replay SEQ`,
// `replay-all [--consumer NAME]`. Connects to NATS_URL with the installation's EVENTS_STREAM and
// EVENTS_SUBJECT_PREFIX (the same variables as the services); in a cluster it runs inside any service's pod:
// `kubectl exec deploy/audit -- node dist/services/audit/dlq.js list`.
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ConfigError, parseConfig } from './config.ts';
import { eventBusConfigShape } from './events/create-event-bus.ts';
import { connectDeadLetters, DeadLetterError, type DeadLetter } from './events/dead-letters.ts';

export const deadLetterCommandConfigSchema = z.object({
  ...eventBusConfigShape,
  NATS_URL: z.string().startsWith('nats'),
});

const usage = `usage: dlq list [--consumer NAME] [--json] | dlq replay SEQ | dlq replay-all [--consumer NAME]`;

function line(letter: DeadLetter): string {
  const event = letter.eventType ? `${letter.eventType} ${letter.eventId}` : '(undecodable)';
  return `${letter.seq}\t${letter.deadLetteredAt.toISOString()}\t${letter.consumer}\t${letter.originalSubject}\t${event}\t${letter.deliveries} deliveries\t${letter.reason}`;
}

export async function runDeadLetterCommand(argv: string[], env: NodeJS.ProcessEnv, out: (text: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { consumer: { type: 'string' }, json: { type: 'boolean', default: false } },
    allowPositionals: true,
  });
  const [command, id] = positionals;
  if (!command || !['list', 'replay', 'replay-all'].includes(command) || (command === 'replay') !== (id !== undefined)) {
    out(usage);
    return 2;
  }
  const seq = Number(id);
  if (command === 'replay' && !(Number.isSafeInteger(seq) && seq > 0)) {
    out(`replay takes the sequence number that "dlq list" shows; got ${JSON.stringify(id)}`);
    return 2;
  }
  const config = parseConfig(deadLetterCommandConfigSchema, env);
  const { deadLetters, close } = await connectDeadLetters(
    config.NATS_URL,
    { stream: config.EVENTS_STREAM, subjectPrefix: config.EVENTS_SUBJECT_PREFIX },
    'taskmesh-dlq',
  );
  try {
    const filter = values.consumer ? { consumer: values.consumer } : {};
    if (command === 'list') {
      const letters = await deadLetters.list(filter);
      if (values.json) out(JSON.stringify(letters));
      else {
        for (const letter of letters) out(line(letter));
        out(`${letters.length} dead letter(s) in ${deadLetters.streamName}`);
      }
    } else if (command === 'replay') {
      const letter = await deadLetters.replay(seq);
      out(`replayed ${letter.seq} to ${letter.originalSubject}`);
    } else {
      const replayed = await deadLetters.replayAll(filter);
      for (const letter of replayed) out(`replayed ${letter.seq} to ${letter.originalSubject}`);
      out(`${replayed.length} dead letter(s) replayed`);
    }
    return 0;
  } finally {
    await close();
  }
}

if (import.meta.main) {
  try {
    process.exitCode = await runDeadLetterCommand(process.argv.slice(2), process.env, (text) => process.stdout.write(`${text}\n`));
  } catch (err) {
    if (!(err instanceof DeadLetterError || err instanceof ConfigError)) throw err;
    process.stderr.write(`dlq: ${err.message}\n`);
    process.exitCode = 1;
  }
}
