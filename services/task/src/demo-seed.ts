import { ApiError, Code, createClient, type TaskmeshClient } from '../../../gen/client/index.ts';

/**
 * Demo data through the public REST API (the generated client), so it works against any running stack,
 * embedded or not: a demo organization with users in every role, two boards with lists and tasks in
 * several states, assignees, labels, due dates and comments. Users are reused on a second run (log-in
 * instead of sign-up); each run creates a fresh organization.
 */
export interface DemoLogin {
  role: 'OWNER' | 'ADMIN' | 'MEMBER' | 'VIEWER';
  email: string;
  password: string;
  displayName: string;
}

export interface DemoSeed {
  organization: string;
  boards: string[];
  logins: DemoLogin[];
}

export const DEMO_PASSWORD = 'taskmesh-demo-2026';

const PEOPLE: Omit<DemoLogin, 'password' | 'email'>[] = [
  { role: 'OWNER', displayName: 'Olivia Owner' },
  { role: 'ADMIN', displayName: 'Adam Admin' },
  { role: 'MEMBER', displayName: 'Mia Member' },
  { role: 'MEMBER', displayName: 'Max Member' },
  { role: 'VIEWER', displayName: 'Vera Viewer' },
];

type Status = 'TASK_STATUS_TODO' | 'TASK_STATUS_IN_PROGRESS' | 'TASK_STATUS_DONE';
type Priority = 'PRIORITY_LOW' | 'PRIORITY_MEDIUM' | 'PRIORITY_HIGH' | 'PRIORITY_URGENT';

interface DemoTask {
  title: string;
  description?: string;
  priority: Priority;
  status?: Status;
  /** Indexes into PEOPLE. */
  assignees?: number[];
  labels?: string[];
  dueInDays?: number;
  comments?: [number, string][];
}

const BOARDS: { displayName: string; description: string; lists: { displayName: string; tasks: DemoTask[] }[] }[] = [
  {
    displayName: 'Product launch',
    description: 'Everything between now and launch day.',
    lists: [
      {
        displayName: 'Backlog',
        tasks: [
          { title: 'Plan the launch webinar', priority: 'PRIORITY_MEDIUM', assignees: [1], labels: ['marketing'], dueInDays: 21 },
          { title: 'Translate the pricing page', description: 'German and French first.', priority: 'PRIORITY_LOW', labels: ['i18n'] },
        ],
      },
      {
        displayName: 'In progress',
        tasks: [
          {
            title: 'Write the launch announcement',
            description: 'Blog post and newsletter; keep the changelog link.',
            priority: 'PRIORITY_HIGH',
            status: 'TASK_STATUS_IN_PROGRESS',
            assignees: [2],
            labels: ['marketing', 'blog'],
            dueInDays: 5,
            comments: [
              [2, 'First draft is in the shared folder.'],
              [0, 'Looks great: add a customer quote?'],
            ],
          },
          {
            title: 'Fix the checkout timeout',
            description: 'Payments time out under load; see the incident notes.',
            priority: 'PRIORITY_URGENT',
            status: 'TASK_STATUS_IN_PROGRESS',
            assignees: [3, 1],
            labels: ['bug', 'payments'],
            dueInDays: 2,
          },
        ],
      },
      {
        displayName: 'Done',
        tasks: [
          { title: 'Freeze the feature set', priority: 'PRIORITY_HIGH', status: 'TASK_STATUS_DONE', assignees: [0], labels: ['planning'] },
        ],
      },
    ],
  },
  {
    displayName: 'Website',
    description: 'The marketing site.',
    lists: [
      {
        displayName: 'To do',
        tasks: [
          { title: 'Refresh the screenshots', priority: 'PRIORITY_LOW', assignees: [3], labels: ['design'], dueInDays: 14 },
          { title: 'Add the status page link to the footer', priority: 'PRIORITY_MEDIUM' },
        ],
      },
      {
        displayName: 'Doing',
        tasks: [
          {
            title: 'Speed up the home page',
            description: 'Largest contentful paint is 3.1 s on mobile; target under 2 s.',
            priority: 'PRIORITY_HIGH',
            status: 'TASK_STATUS_IN_PROGRESS',
            assignees: [2],
            labels: ['performance'],
            comments: [[1, 'Images are the biggest part: try AVIF.']],
          },
        ],
      },
      { displayName: 'Done', tasks: [{ title: 'Move the blog to the new domain', priority: 'PRIORITY_MEDIUM', status: 'TASK_STATUS_DONE' }] },
    ],
  },
];

const STEPS: Record<Status, Status[]> = {
  TASK_STATUS_TODO: [],
  TASK_STATUS_IN_PROGRESS: ['TASK_STATUS_IN_PROGRESS'],
  TASK_STATUS_DONE: ['TASK_STATUS_IN_PROGRESS', 'TASK_STATUS_DONE'],
};

/** Signs the user up, or logs in when the address is taken (a second run). */
async function signIn(baseUrl: string, person: DemoLogin): Promise<{ api: TaskmeshClient; user: string }> {
  const anonymous = createClient({ baseUrl });
  let res;
  try {
    res = await anonymous.identity.signUp({ email: person.email, password: person.password, displayName: person.displayName });
  } catch (err) {
    if (!(err instanceof ApiError) || err.code !== Code.ALREADY_EXISTS) throw err;
    res = await anonymous.identity.logIn({ email: person.email, password: person.password });
  }
  return { api: createClient({ baseUrl, token: res.accessToken }), user: res.user!.name };
}

export async function seedDemo(options: { baseUrl: string; emailDomain?: string }): Promise<DemoSeed> {
  const domain = options.emailDomain ?? 'demo.taskmesh.dev';
  const logins: DemoLogin[] = PEOPLE.map((p) => ({
    ...p,
    email: `${p.displayName.split(' ')[0]!.toLowerCase()}@${domain}`,
    password: DEMO_PASSWORD,
  }));
  const people: { api: TaskmeshClient; user: string }[] = [];
  for (const login of logins) people.push(await signIn(options.baseUrl, login));
  const owner = people[0]!.api;

  const stamp = new Date().toISOString().slice(0, 16).replace('T', ' ');
  const { organization } = await owner.org.createOrganization({ organization: { displayName: `Demo Co (${stamp} UTC)` } });
  const org = organization!.name;
  for (const [i, login] of logins.entries()) {
    if (login.role === 'OWNER') continue;
    const { token } = await owner.org.createInvitation({ parent: org, invitation: { email: login.email, role: `ROLE_${login.role}` } });
    await people[i]!.api.org.acceptInvitation({ token });
  }

  const boards: string[] = [];
  for (const spec of BOARDS) {
    const { board } = await owner.board.createBoard({ parent: org, board: { displayName: spec.displayName, description: spec.description } });
    boards.push(board!.name);
    for (const listSpec of spec.lists) {
      const { list } = await owner.board.createList({ parent: board!.name, list: { displayName: listSpec.displayName } });
      for (const t of listSpec.tasks) {
        const { task } = await owner.task.createTask({
          parent: board!.name,
          task: {
            list: list!.name,
            title: t.title,
            description: t.description ?? '',
            priority: t.priority,
            assignees: (t.assignees ?? []).map((i) => people[i]!.user),
            labels: t.labels ?? [],
            ...(t.dueInDays === undefined ? {} : { dueTime: new Date(Date.now() + t.dueInDays * 86_400_000).toISOString() }),
          },
        });
        for (const status of STEPS[t.status ?? 'TASK_STATUS_TODO']) {
          await owner.task.updateTask({ task: { name: task!.name, status }, updateMask: 'status' });
        }
        for (const [author, body] of t.comments ?? []) {
          await people[author]!.api.task.createComment({ parent: task!.name, comment: { body } });
        }
      }
    }
  }
  return { organization: org, boards, logins };
}
