// `npm start`: the whole system in one process. Telemetry first; everything it instruments is imported after.
import { startTelemetry } from '@taskmesh/runtime/telemetry';

await startTelemetry({ serviceName: 'taskmesh', metricsHost: '127.0.0.1' });
const { runEmbedded } = await import('./stack.ts');
await runEmbedded();
