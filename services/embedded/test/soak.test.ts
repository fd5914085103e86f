import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@taskmesh/runtime/testing/test-database';
import { memoryGrowth, runSoak } from '../bench/soak.ts';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

// `npm run soak` in about two minutes: the internal intervals are shortened so every idle gap outlasts them
// (signing-key reload, membership and board caches, pooled connections), and the background loops and health
// checks poll as rarely as on `npm start`'s embedded PostgreSQL, so the pools have closed their connections by
// the end of a gap and every call after it opens new ones. Memory is printed, not asserted.
describe('soak (short)', () => {
  it('a mixed workload with idle gaps and a burst of 30 clients has no failed call', async () => {
    const lines: string[] = [];
    const report = await runSoak({
      minutes: 1.5,
      activeMs: 15_000,
      idleGapMs: 8_000,
      burstConcurrency: 30,
      burstMs: 8_000,
      overrides: {
        ...(db.databaseUrl ? { DATABASE_URL: db.databaseUrl } : {}),
        TASKMESH_DATA_DIR: db.dataDir,
        SIGNING_KEY_RELOAD_SECONDS: '3',
        MEMBERSHIP_CACHE_TTL_MS: '500',
        BOARD_CACHE_TTL_MS: '500',
        DB_POOL_IDLE_TIMEOUT_MS: '1000',
        BACKGROUND_POLL_INTERVAL_MS: '30000',
        DB_HEALTH_INTERVAL_MS: '30000',
      },
      print: (line) => lines.push(line),
    });
    process.stdout.write(`${lines.join('\n')}\nsoak (short): ${report.stats.summary()}; memory ${memoryGrowth(report.memory)}\n`);
    expect(report.stats.samples).toEqual([]);
    expect(report.stats.failed).toBe(0);
    expect(report.acknowledgedCreates).toBeGreaterThan(0);
    expect(report.watchEvents).toBeGreaterThan(0);
    // The pools did shed their connections in the gaps (each of ten services holds one while it is in use).
    const idle = report.memory.filter((m) => m.phase.startsWith('idle'));
    expect(idle.length).toBeGreaterThan(0);
    expect(Math.min(...idle.map((m) => m.connections))).toBeLessThanOrEqual(3);
  }, 600_000);
});
