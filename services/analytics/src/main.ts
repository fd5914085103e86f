// Telemetry must start before anything it instruments is loaded, so everything else is imported dynamically.
import { startTelemetry } from '@taskmesh/runtime/telemetry';

await startTelemetry({ serviceName: 'analytics' });
const { runStandalone } = await import('./standalone.ts');
await runStandalone();
