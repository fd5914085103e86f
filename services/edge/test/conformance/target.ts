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
  // Loaded only when needed, so pointing the suite elsewhere does not require the services' code.
  const [{ startTestStack }, { ALL_SERVICES, edgeFront }] = await Promise.all([
    import('@taskmesh/runtime/testing/test-stack'),
    import('../../../embedded/src/services.ts'),
  ]);
  const stack = await startTestStack({ services: ALL_SERVICES, front: edgeFront, overrides });
  return { baseUrl: stack.url, kind: 'edge', local: true, close: () => stack.close() };
}
