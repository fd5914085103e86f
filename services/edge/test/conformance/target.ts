import { createTestDatabase } from '@taskmesh/runtime/testing/test-database';
import type { TestDatabase } from '@taskmesh/runtime/testing/test-database';

/**
 * What the conformance suite talks to. With TASKMESH_BASE_URL set (e.g. Envoy in a cluster, or a
 * running `npm start`), that URL, untouched; TASKMESH_EDGE_KIND=envoy marks it as Envoy for the few
 * cases where services/edge deliberately does more than Envoy. Unset, the suite starts the embedded
 * stack itself (every service that exists, the TypeScript edge in front) on free ports with a
 * throwaway database, and stops it afterwards.
 */
export interface ConformanceTarget {
  baseUrl: string;
  kind: 'envoy' | 'edge';
  /** True when the suite started the stack itself, so it may rely on its test settings. */
  local: boolean;
  close(): Promise<void>;
}

/** `overrides` (environment values) apply only to a stack the suite starts itself. */
export async function startConformanceTarget(overrides: Record<string, string> = {}): Promise<ConformanceTarget> {
  const external = process.env.TASKMESH_BASE_URL?.trim();
  if (external) {
    return {
      baseUrl: external.replace(/\/+$/, ''),
      kind: process.env.TASKMESH_EDGE_KIND === 'envoy' ? 'envoy' : 'edge',
      local: false,
      close: async () => undefined,
    };
  }
  const database: TestDatabase = await createTestDatabase();
  // Loaded only when needed, so pointing the suite elsewhere does not require the services' code.
  const { startStack, EVERY_PORT_FREE } = await import('../../../embedded/src/stack.ts');
  try {
    const stack = await startStack({
      DATABASE_URL: database.databaseUrl,
      TASKMESH_DATA_DIR: database.dataDir,
      EDGE_HOST: '127.0.0.1',
      ...EVERY_PORT_FREE,
      EDGE_ACCESS_LOG: 'off',
      // Cheap hashing: the suite is about the HTTP surface, not password cost.
      ARGON2_MEMORY_KIB: '1024',
      // Every test signs up from the same loopback address.
      SIGNUP_MAX_PER_ADDRESS: '100000',
      RESET_MAX_PER_ADDRESS: '100000',
      ARGON2_ITERATIONS: '1',
      ...overrides,
    });
    return {
      baseUrl: stack.url,
      kind: 'edge',
      local: true,
      async close() {
        await stack.close();
        await database.drop();
      },
    };
  } catch (error) {
    await database.drop();
    throw error;
  }
}
