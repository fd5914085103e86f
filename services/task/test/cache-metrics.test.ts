// The caches of a board listing and of the callers seen from outside: REST traffic through the edge (a user's
// access token, then an API token), then the Prometheus endpoint shows each cache's lookups, evictions, entries
// and bytes under its own `cache` label, with the budgets the configuration gave (a task-bytes budget small
// enough to evict, memberships kept 30 s).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMetricsEndpoint, type MetricsEndpoint } from '@taskmesh/runtime/metrics';
import { freePort } from '@taskmesh/runtime/testing/ports';
import { startTestStack, type TestStack } from '@taskmesh/runtime/testing/test-stack';
import { signUpAs } from '../../edge/test/typed-client.ts';
import { boardService } from '../../board/src/descriptor.ts';
import { edgeFront } from '../../edge/src/descriptor.ts';
import { identityService } from '../../identity/src/descriptor.ts';
import { orgService } from '../../org/src/descriptor.ts';
import { taskService } from '../src/descriptor.ts';

let metrics: MetricsEndpoint | undefined;
let stack: TestStack;

beforeAll(async () => {
  // The MeterProvider first: the cache instruments are made when the services register their caches.
  metrics = await startMetricsEndpoint({ port: await freePort(), host: '127.0.0.1', serviceName: 'taskmesh' });
  stack = await startTestStack({
    services: [identityService, orgService, boardService, taskService],
    front: edgeFront,
    overrides: { TASK_BYTES_CACHE_BYTES: '20000', TASK_PAGE_CACHE_BYTES: '4000000', BOARD_CACHE_MAX_BOARDS: '50', BOARD_CACHE_TTL_MS: '30000', MEMBERSHIP_CACHE_TTL_MS: '30000' },
  });
});
afterAll(async () => {
  await stack?.close();
  await metrics?.shutdown();
});

/** The value of the series `name` whose labels include `labels`; undefined when there is none. */
async function scraped(name: string, labels: Record<string, string>): Promise<number | undefined> {
  const text = await (await fetch(metrics!.url!)).text();
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labelText = line.slice(name.length + 1, line.lastIndexOf('}'));
    if (wanted.every((pair) => labelText.split(',').includes(pair))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('cache metrics after REST traffic', () => {
  it('count lookups, evictions, entries and bytes of each cache of the task service and the edge', async () => {
    expect(metrics?.url).toBeDefined();
    const alice = await signUpAs(stack.url, 'alice');
    const { organization } = await alice.api.org.createOrganization({ organization: { displayName: 'Cache Co' } });
    const { board } = await alice.api.board.createBoard({ parent: organization!.name, board: { displayName: 'Big board' } });
    const list = (await alice.api.board.createList({ parent: board!.name, list: { displayName: 'To do' } })).list!.name;
    // Enough tasks that a page is a large response (16 KiB and more) and their bytes outgrow a 20 kB budget.
    const tasks: string[] = [];
    for (let i = 0; i < 40; i++) {
      const { task } = await alice.api.task.createTask({
        parent: board!.name,
        task: { list, title: `Task ${i}`, description: `${'A long description of the work. '.repeat(16)}${i}`, priority: 'PRIORITY_MEDIUM' },
      });
      tasks.push(task!.name);
    }
    const load = async () => (await fetch(`${stack.url}/v1/${board!.name}/tasks?pageSize=100`, { headers: { authorization: `Bearer ${alice.token}` } })).text();

    const first = await load();
    expect(first.length).toBeGreaterThan(16 * 1024);
    // The same page again: the task service's page cache and the edge's memo answer.
    expect(await load()).toBe(first);
    // One task changed: a new page (page cache miss), the bytes of the other tasks still kept where the budget allowed.
    await alice.api.task.updateTask({ task: { name: tasks[0]!, title: 'Changed' }, updateMask: 'title' });
    const third = await load();
    expect(third).not.toBe(first);
    expect(third).toContain('"title":"Changed"');

    const lookups = (service: string, cache: string, result: string) => scraped('taskmesh_cache_lookups_total', { service, cache, result });
    expect(await lookups('task', 'task_page', 'hit')).toBe(1);
    expect(await lookups('task', 'task_page', 'miss')).toBe(2);
    expect(await lookups('task', 'task_bytes', 'miss')).toBeGreaterThanOrEqual(41);
    expect(await lookups('task', 'task_bytes', 'hit')).toBeGreaterThan(0);
    expect(await lookups('task', 'board_directory', 'hit')).toBeGreaterThan(0);
    expect(await lookups('edge', 'edge_large_response', 'hit')).toBe(1);
    expect(await lookups('edge', 'edge_large_response', 'miss')).toBe(2);
    // The caches about callers, made by each service's server.ts: the key set fetched once, then the same
    // access token and membership answered from memory.
    expect(await lookups('task', 'jwks', 'miss')).toBe(1);
    expect(await lookups('task', 'jwks', 'hit')).toBe(0);
    expect(await lookups('task', 'access_token', 'hit')).toBeGreaterThan(0);
    expect(await lookups('task', 'access_token', 'miss')).toBeGreaterThan(0);
    expect(await scraped('taskmesh_cache_entries', { service: 'task', cache: 'access_token' })).toBeGreaterThanOrEqual(2);
    expect(await lookups('task', 'membership', 'hit')).toBeGreaterThan(0);
    expect(await lookups('task', 'membership', 'miss')).toBe(1);
    expect(await scraped('taskmesh_cache_entries', { service: 'task', cache: 'membership' })).toBe(1);
    expect(await scraped('taskmesh_cache_evictions_total', { service: 'task', cache: 'membership' })).toBe(0);
    expect(await lookups('task', 'api_token', 'miss')).toBe(0);


    // 20 kB of task bytes hold fewer than the page's 40 tasks: the older half was dropped, and counted.
    expect(await scraped('taskmesh_cache_evictions_total', { service: 'task', cache: 'task_bytes' })).toBeGreaterThan(0);
    const taskBytes = await scraped('taskmesh_cache_bytes', { service: 'task', cache: 'task_bytes' });
    expect(taskBytes).toBeGreaterThan(0);
    expect(taskBytes).toBeLessThanOrEqual(20_000);
    expect(await scraped('taskmesh_cache_entries', { service: 'task', cache: 'task_bytes' })).toBeLessThan(40);
    // The changed page replaced the one kept for the same request.
    expect(await scraped('taskmesh_cache_entries', { service: 'task', cache: 'task_page' })).toBe(1);
    expect(await scraped('taskmesh_cache_evictions_total', { service: 'task', cache: 'task_page' })).toBe(0);
    expect(await scraped('taskmesh_cache_entries', { service: 'task', cache: 'board_directory' })).toBe(1);
    // Budgeted in boards, not bytes: no bytes series.
    expect(await scraped('taskmesh_cache_bytes', { service: 'task', cache: 'board_directory' })).toBeUndefined();
    expect(await scraped('taskmesh_cache_entries', { service: 'edge', cache: 'edge_large_response' })).toBe(2);
    expect(await scraped('taskmesh_cache_bytes', { service: 'edge', cache: 'edge_large_response' })).toBeGreaterThan(2 * 16 * 1024);

    // An API token: org's answer about it is kept half a second, so back-to-back calls find it.
    const { token: apiSecret } = await alice.api.org.createApiToken({ parent: organization!.name, apiToken: { displayName: 'ci', role: 'ROLE_MEMBER' } });
    for (let i = 0; i < 20 && !((await lookups('task', 'api_token', 'hit')) ?? 0); i++) {
      const res = await fetch(`${stack.url}/v1/${board!.name}/tasks?pageSize=1`, { headers: { authorization: `Bearer ${apiSecret}` } });
      expect(res.status).toBe(200);
    }
    expect(await lookups('task', 'api_token', 'miss')).toBeGreaterThanOrEqual(1);
    expect(await lookups('task', 'api_token', 'hit')).toBeGreaterThan(0);
    expect(await scraped('taskmesh_cache_entries', { service: 'task', cache: 'api_token' })).toBeLessThanOrEqual(1);
  });
});
