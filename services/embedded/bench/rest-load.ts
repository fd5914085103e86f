import { randomUUID } from 'node:crypto';

/** One REST call's outcome: HTTP status (0 when no response came: connection refused, reset, client timeout). */
export interface CallResult<T = Record<string, unknown>> {
  status: number;
  body: T;
  ms: number;
}

export interface TimedCall {
  label: string;
  startedAt: number;
  ms: number;
  status: number;
  ok: boolean;
}

/**
 * Counts every call through the edge: totals, failures by status and latencies, so soak and chaos runs print
 * the same figures. `expected` statuses (e.g. 404 after a delete) are not failures.
 */
export class CallStats {
  calls = 0;
  readonly failures = new Map<string, number>();
  readonly latencies: number[] = [];
  /** The slowest failed call, to show that none hung past the deadline. */
  slowestFailureMs = 0;
  /** First few failures, for the report. */
  readonly samples: string[] = [];
  /** 409 "changing too fast; retry" answers that a retry then settled (not failures: the API asks for it). */
  retried = 0;
  /** Every call with its start time, when a run needs to relate calls to moments (the chaos run's faults). */
  readonly timeline: TimedCall[] | undefined;

  constructor(options: { timeline?: boolean } = {}) {
    this.timeline = options.timeline ? [] : undefined;
  }

  record(label: string, result: CallResult<unknown>, ok: boolean): void {
    this.calls += 1;
    this.latencies.push(result.ms);
    this.timeline?.push({ label, startedAt: Date.now() - result.ms, ms: result.ms, status: result.status, ok });
    if (ok) return;
    const key = String(result.status);
    this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
    this.slowestFailureMs = Math.max(this.slowestFailureMs, result.ms);
    if (this.samples.length < 10) this.samples.push(`${new Date().toISOString().slice(11, 19)} ${label} → ${result.status} ${JSON.stringify(result.body).slice(0, 200)}`);
  }

  get failed(): number {
    let n = 0;
    for (const count of this.failures.values()) n += count;
    return n;
  }

  percentile(p: number): number {
    if (this.latencies.length === 0) return 0;
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
  }

  summary(): string {
    const failures = [...this.failures.entries()].map(([status, n]) => `${status}×${n}`).join(' ') || 'none';
    return `calls ${this.calls}, failed ${this.failed} (${failures}), retried 409s ${this.retried}, p50 ${this.percentile(50).toFixed(0)} ms, p99 ${this.percentile(99).toFixed(0)} ms`;
  }
}

/** A signed-in user of the REST API at baseUrl, every call counted in stats. */
export class RestUser {
  accessToken = '';
  refreshToken = '';
  readonly email = `soak-${randomUUID()}@example.com`;
  readonly password = 'correct horse battery staple';

  constructor(
    readonly baseUrl: string,
    readonly stats: CallStats,
    /** Client-side cap per call; a call still unanswered by then counts as status 0. */
    readonly timeoutMs = 30_000,
  ) {}

  async call<T = Record<string, unknown>>(method: string, path: string, body?: unknown, expected: number[] = [200]): Promise<CallResult<T>> {
    // As a well-behaved client does: a write that lost a race on a busy list is retried after a short pause.
    for (let attempt = 1; ; attempt++) {
      const result = await this.once<T>(method, path, body);
      const retry = result.status === 409 && JSON.stringify(result.body).includes('CONCURRENT_CHANGE') && attempt < 5;
      if (!retry) {
        this.stats.record(`${method} ${path.replace(/[0-9a-f-]{36}/g, ':id')}`, result, expected.includes(result.status));
        return result;
      }
      this.stats.retried += 1;
      await new Promise((r) => setTimeout(r, 20 * attempt + Math.random() * 50));
    }
  }

  private async once<T>(method: string, path: string, body: unknown): Promise<CallResult<T>> {
    const started = performance.now();
    let result: CallResult<T>;
    try {
      const res = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(this.accessToken ? { authorization: `Bearer ${this.accessToken}` } : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      const text = await res.text();
      let parsed: unknown = {};
      try {
        parsed = text ? JSON.parse(text) : {};
      } catch {
        parsed = { text: text.slice(0, 200) };
      }
      result = { status: res.status, body: parsed as T, ms: performance.now() - started };
    } catch (err) {
      result = { status: 0, body: { error: String(err) } as T, ms: performance.now() - started };
    }
    return result;
  }

  async signUp(): Promise<boolean> {
    const res = await this.call<Session>('POST', '/v1/auth:signUp', { email: this.email, password: this.password, displayName: 'Soak' });
    return this.keep(res);
  }

  async logIn(): Promise<boolean> {
    return this.keep(await this.call<Session>('POST', '/v1/auth:logIn', { email: this.email, password: this.password }));
  }

  async refresh(): Promise<boolean> {
    return this.keep(await this.call<Session>('POST', '/v1/auth:refresh', { refreshToken: this.refreshToken }));
  }

  private keep(res: CallResult<Session>): boolean {
    if (res.status !== 200) return false;
    this.accessToken = res.body.accessToken;
    this.refreshToken = res.body.refreshToken;
    return true;
  }
}

interface Session {
  accessToken: string;
  refreshToken: string;
}

/** An organization with one board and two lists, owned by `owner`. */
export interface Workspace {
  owner: RestUser;
  org: string;
  board: string;
  lists: [string, string];
}

type Named<K extends string> = Record<K, { name: string } | undefined>;

export async function createWorkspace(owner: RestUser): Promise<Workspace | undefined> {
  const org = await owner.call<Named<'organization'>>('POST', '/v1/organizations', { displayName: 'Soak org' });
  if (org.status !== 200 || !org.body.organization) return undefined;
  const board = await owner.call<Named<'board'>>('POST', `/v1/${org.body.organization.name}/boards`, { displayName: 'Soak board' });
  if (board.status !== 200 || !board.body.board) return undefined;
  const lists: string[] = [];
  for (const title of ['Todo', 'Doing']) {
    const list = await owner.call<Named<'list'>>('POST', `/v1/${board.body.board.name}/lists`, { displayName: title });
    if (list.status !== 200 || !list.body.list) return undefined;
    lists.push(list.body.list.name);
  }
  return { owner, org: org.body.organization.name, board: board.body.board.name, lists: lists as [string, string] };
}

/** Creates one task; its name when the edge acknowledged it (200). */
export async function createTask(ws: Workspace, user: RestUser, title: string): Promise<string | undefined> {
  const res = await user.call<Named<'task'>>('POST', `/v1/${ws.board}/tasks`, { list: ws.lists[0], title, priority: 'PRIORITY_MEDIUM' });
  return res.status === 200 ? res.body.task?.name : undefined;
}

/**
 * One round of the mixed workload on a workspace: create a task, read it, move it, comment, list comments,
 * list the board's tasks, read the audit log. Names of acknowledged creates go to `acknowledged`.
 */
export async function mixedRound(ws: Workspace, acknowledged: string[]): Promise<void> {
  const user = ws.owner;
  const task = await createTask(ws, user, `task ${randomUUID().slice(0, 8)}`);
  if (!task) return;
  acknowledged.push(task);
  await user.call('GET', `/v1/${task}`);
  await user.call('POST', `/v1/${task}:move`, { list: ws.lists[1] });
  await user.call('POST', `/v1/${task}/comments`, { body: 'looks good' });
  await user.call('GET', `/v1/${task}/comments`);
  await user.call('GET', `/v1/${ws.board}/tasks?pageSize=20`);
  await user.call('GET', `/v1/${ws.org}/auditEvents?pageSize=20`);
}

/**
 * Opens WatchBoard over REST and counts the lines it receives until `signal` aborts or the server ends it.
 * Resolves with the line count and how it ended ('aborted' by us, 'ended' by the server, or an error text).
 */
export async function watchBoard(baseUrl: string, token: string, board: string, signal: AbortSignal): Promise<{ lines: number; end: string; status: number }> {
  let lines = 0;
  let status = 0;
  try {
    const res = await fetch(`${baseUrl}/v1/${board}:watch`, { headers: { authorization: `Bearer ${token}` }, signal });
    status = res.status;
    if (!res.body) return { lines, end: 'no body', status };
    const decoder = new TextDecoder();
    for await (const chunk of res.body) lines += (decoder.decode(chunk as Uint8Array, { stream: true }).match(/\n/g) ?? []).length;
    return { lines, end: 'ended', status };
  } catch (err) {
    return { lines, end: signal.aborted ? 'aborted' : String(err), status };
  }
}

/** Runs `worker` on `concurrency` parallel lanes until it returns false or `until()` says stop. */
export async function lanes(concurrency: number, until: () => boolean, worker: (lane: number) => Promise<void>): Promise<void> {
  await Promise.all(
    Array.from({ length: concurrency }, async (_, lane) => {
      while (!until()) await worker(lane);
    }),
  );
}
