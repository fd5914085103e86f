import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['services/**/*.test.ts'],
    exclude: ['**/node_modules/**'],
    pool: 'forks',
    // A PostgreSQL for the run: TEST_DATABASE_URL / the local server, else one embedded server.
    globalSetup: ['services/runtime/src/testing/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    // Services log JSON to stdout; keep test output to warnings unless asked for more.
    // A test that starts telemetry serves no metrics unless it asks for a port (the default 9464 is shared).
    env: { LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', METRICS_PORT: process.env.METRICS_PORT ?? 'off' },
  },
});
