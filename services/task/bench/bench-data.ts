import { randomBytes } from 'node:crypto';
import { createClient, type TaskmeshClient } from '@taskmesh/gen/client/index.js';

/** What the scenarios run against, all made through the public REST API. */
export interface BenchData {
  token: string;
  /** organizations/{org}/boards/{board} with 5 lists of 200 tasks: the board that is loaded and read. */
  readBoard: string;
  readTasks: string[];
  /** The second page's token of the read board at 500 a page. */
  readBoardSecondPage: string;
  /** A board with 50 lists, where tasks are created and moved. */
  writeBoard: string;
  writeLists: string[];
  /** Tasks on the write board that the move scenario moves around. */
  movableTasks: string[];
}

/** Runs `work` over `items` with at most `parallel` in flight. */
async function inParallel<T>(items: T[], parallel: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

async function createTasks(api: TaskmeshClient, board: string, list: string, count: number, label: string): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const { task } = await api.task.createTask({
      parent: board,
      task: {
        list,
        title: `${label} ${i + 1}`,
        description: 'Seeded by npm run bench: a short description of about the usual length.',
        priority: 'PRIORITY_MEDIUM',
        labels: ['bench'],
      },
    });
    names.push(task!.name);
  }
  return names;
}

export async function createBenchData(baseUrl: string): Promise<BenchData> {
  const anonymous = createClient({ baseUrl });
  const email = `bench-${randomBytes(4).toString('hex')}@bench.invalid`;
  const { accessToken } = await anonymous.identity.signUp({ email, password: 'bench-password-2026', displayName: 'Bench Owner' });
  const api = createClient({ baseUrl, token: accessToken });
  const { organization } = await api.org.createOrganization({ organization: { displayName: 'Benchmark Co' } });
  const org = organization!.name;

  const { board: read } = await api.board.createBoard({ parent: org, board: { displayName: 'A board of 1,000 tasks' } });
  const readLists: string[] = [];
  for (const displayName of ['Backlog', 'To do', 'Doing', 'Review', 'Done']) {
    const { list } = await api.board.createList({ parent: read!.name, list: { displayName } });
    readLists.push(list!.name);
  }
  const readTasks: string[] = [];
  // One writer per list: appends to one list are serialised by its order keys anyway.
  await inParallel(readLists, readLists.length, async (list) => {
    readTasks.push(...(await createTasks(api, read!.name, list, 200, 'Read task')));
  });

  const { board: write } = await api.board.createBoard({ parent: org, board: { displayName: 'Where tasks are created and moved' } });
  const writeLists: string[] = [];
  for (let i = 0; i < 50; i++) {
    const { list } = await api.board.createList({ parent: write!.name, list: { displayName: `List ${i + 1}` } });
    writeLists.push(list!.name);
  }
  const movableTasks: string[] = [];
  await inParallel(writeLists, 10, async (list) => {
    movableTasks.push(...(await createTasks(api, write!.name, list, 4, 'Movable task')));
  });

  const first = await api.task.listTasks({ parent: read!.name, pageSize: 500 });
  if (first.tasks.length !== 500 || !first.nextPageToken) throw new Error(`expected a first page of 500 with a next page, got ${first.tasks.length}`);
  const second = await api.task.listTasks({ parent: read!.name, pageSize: 500, pageToken: first.nextPageToken });
  if (second.tasks.length !== 500 || second.nextPageToken) throw new Error(`expected a last page of 500, got ${second.tasks.length}`);
  return {
    token: accessToken,
    readBoard: read!.name,
    readTasks,
    readBoardSecondPage: first.nextPageToken,
    writeBoard: write!.name,
    writeLists,
    movableTasks,
  };
}
