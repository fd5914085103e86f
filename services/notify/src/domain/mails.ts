// What notify mails, as plain data: the rows event handlers queue, and their rendering into subject and
// text once the dispatcher knows the people involved. No ORM and no generated types here.

export interface Person {
  email: string;
  displayName: string;
}

export interface WelcomeMail {
  kind: 'welcome';
  displayName: string;
}

export interface TaskAssignedMail {
  kind: 'task-assigned';
  /** organizations/{org}/boards/{board}/tasks/{task} */
  task: string;
  title: string;
  /** users/{user} who assigned. */
  actor: string;
  organizationName: string;
}

export interface DigestTask {
  name: string;
  title: string;
  /** RFC 3339. */
  dueTime: string;
  status: TaskProgress;
}

export interface TaskDigestMail {
  kind: 'task-digest';
  organizationName: string;
  /** YYYY-MM-DD (UTC) the digest is for. */
  day: string;
  tasks: DigestTask[];
}

export type MailContent = WelcomeMail | TaskAssignedMail | TaskDigestMail;
export type TaskProgress = 'todo' | 'in_progress' | 'done';

export interface RenderedMail {
  subject: string;
  text: string;
}

/** The users a mail mentions besides its recipient, to look up before rendering. */
export function peopleMentioned(content: MailContent): string[] {
  return content.kind === 'task-assigned' ? [content.actor] : [];
}

const progressLabel: Record<TaskProgress, string> = { todo: 'to do', in_progress: 'in progress', done: 'done' };

function linkTo(appBaseUrl: string, resource: string): string {
  return `${appBaseUrl.replace(/\/$/, '')}/${resource}`;
}

function dueLabel(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

export function renderMail(
  content: MailContent,
  recipient: Person,
  people: ReadonlyMap<string, Person>,
  appBaseUrl: string,
): RenderedMail {
  switch (content.kind) {
    case 'welcome':
      return {
        subject: 'Welcome to Taskmesh',
        text:
          `Hi ${content.displayName},\n\nyour Taskmesh account for ${recipient.email} is ready.\n` +
          `Sign in at ${appBaseUrl}\n\nIf you did not sign up, ignore this mail.\n`,
      };
    case 'task-assigned': {
      const actor = people.get(content.actor)?.displayName ?? 'Someone';
      return {
        subject: `${actor} assigned you: ${content.title}`,
        text:
          `Hi ${recipient.displayName},\n\n${actor} assigned you to the task "${content.title}" in ${content.organizationName}.\n\n` +
          `Open it: ${linkTo(appBaseUrl, content.task)}\n`,
      };
    }
    case 'task-digest': {
      const lines = content.tasks.map(
        (task) => `- ${task.title} (due ${dueLabel(task.dueTime)}, ${progressLabel[task.status]})\n  ${linkTo(appBaseUrl, task.name)}`,
      );
      const count = content.tasks.length === 1 ? '1 task is' : `${content.tasks.length} tasks are`;
      return {
        subject: `Due soon in ${content.organizationName}: ${count.replace(/ (is|are)$/, '')}`,
        text: `Hi ${recipient.displayName},\n\n${count} due within the next 24 hours in ${content.organizationName}:\n\n${lines.join('\n')}\n`,
      };
    }
  }
}
