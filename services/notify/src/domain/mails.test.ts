import { describe, expect, it } from 'vitest';
import { peopleMentioned, renderMail, type Person } from './mails.ts';

const bob: Person = { email: 'bob@example.com', displayName: 'Bob' };
const people = new Map<string, Person>([['users/ada', { email: 'ada@example.com', displayName: 'Ada' }]]);

describe('mail rendering', () => {
  it('names who assigned the task and links to it', () => {
    const content = { kind: 'task-assigned', task: 'organizations/o/boards/b/tasks/t', title: 'Fix it', actor: 'users/ada', organizationName: 'Acme' } as const;
    expect(peopleMentioned(content)).toEqual(['users/ada']);
    const mail = renderMail(content, bob, people, 'https://app.example/');
    expect(mail.subject).toBe('Ada assigned you: Fix it');
    expect(mail.text).toContain('https://app.example/organizations/o/boards/b/tasks/t');
  });

  it('falls back to "Someone" when the assigner is unknown to identity', () => {
    const content = { kind: 'task-assigned', task: 't', title: 'Fix it', actor: 'users/gone', organizationName: 'Acme' } as const;
    expect(renderMail(content, bob, people, 'https://app.example').subject).toBe('Someone assigned you: Fix it');
  });

  it('lists digest tasks with their due time and progress', () => {
    const mail = renderMail(
      {
        kind: 'task-digest',
        organizationName: 'Acme',
        day: '2026-11-23',
        tasks: [{ name: 'organizations/o/boards/b/tasks/t', title: 'Fix it', dueTime: '2026-11-23T15:30:00.000Z', status: 'in_progress' }],
      },
      bob,
      people,
      'https://app.example',
    );
    expect(mail.subject).toBe('Due soon in Acme: 1 task');
    expect(mail.text).toContain('- Fix it (due 2026-11-23 15:30 UTC, in progress)');
  });
});
