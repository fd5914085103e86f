import autocannon, { type RequestSpec } from 'autocannon';
import type { BenchData } from './bench-data.ts';

export interface Measurement {
  name: string;
  connections: number;
  /** Successful operations per second (for the board: whole loads of both pages). */
  perSecond: number;
  /** Latency of one HTTP request (for the board: of one page). */
  p50Ms: number;
  p99Ms: number;
  requests: number;
  failures: number;
}

export interface Scenario {
  name: string;
  /** HTTP requests per operation (2 for a board load). */
  requestsPerOperation: number;
  requests: (data: BenchData) => RequestSpec[];
}

const pick = <T>(items: T[]): T => items[Math.floor(Math.random() * items.length)]!;
const escapePath = (name: string) => name.split('/').map(encodeURIComponent).join('/');

export const SCENARIOS: Scenario[] = [
  {
    name: 'create task',
    requestsPerOperation: 1,
    requests: (data) => [
      {
        method: 'POST',
        path: `/v1/${escapePath(data.writeBoard)}/tasks`,
        // A random list of 50: appends to one list contend for its last order key.
        setupRequest: (request) => ({
          ...request,
          body: JSON.stringify({ list: pick(data.writeLists), title: 'Benchmark task', priority: 'PRIORITY_MEDIUM', labels: ['bench'] }),
        }),
      },
    ],
  },
  {
    name: 'get task',
    requestsPerOperation: 1,
    requests: (data) => [{ method: 'GET', setupRequest: (request) => ({ ...request, path: `/v1/${escapePath(pick(data.readTasks))}` }) }],
  },
  {
    name: 'move task',
    requestsPerOperation: 1,
    requests: (data) => [
      {
        method: 'POST',
        // A random task of 200 to the end of a random list of 50.
        setupRequest: (request) => ({
          ...request,
          path: `/v1/${escapePath(pick(data.movableTasks))}:move`,
          body: JSON.stringify({ list: pick(data.writeLists) }),
        }),
      },
    ],
  },
  {
    name: 'load a board of 1,000 tasks',
    requestsPerOperation: 2,
    requests: (data) => [
      { method: 'GET', path: `/v1/${escapePath(data.readBoard)}/tasks?pageSize=500` },
      {
        method: 'GET',
        path: `/v1/${escapePath(data.readBoard)}/tasks?pageSize=500&pageToken=${encodeURIComponent(data.readBoardSecondPage)}`,
      },
    ],
  },
];

/** One bounded autocannon run (duration and request count) of a scenario against the edge. */
export async function runScenario(
  scenario: Scenario,
  data: BenchData,
  options: { url: string; connections: number; durationS: number; maxRequests: number },
): Promise<Measurement> {
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.durationS,
    maxOverallRequests: options.maxRequests,
    timeout: 30,
    headers: { authorization: `Bearer ${data.token}`, 'content-type': 'application/json' },
    requests: scenario.requests(data),
  });
  return {
    name: scenario.name,
    connections: options.connections,
    perSecond: result['2xx'] / scenario.requestsPerOperation / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: result['2xx'],
    failures: result.non2xx + result.errors + result.timeouts,
  };
}
