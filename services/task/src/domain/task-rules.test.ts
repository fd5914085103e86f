import { status as GrpcCode } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { codeOf } from '@taskmesh/runtime/testing/grpc-assertions';
import { TASK_STATUSES, Violations, assertTransition, assigneeIdsOf, changesBetween, checkLabels, checkNewTask, type TaskContent, type TaskStatus } from './task-rules.ts';

const ALLOWED = new Set(['TODO>IN_PROGRESS', 'IN_PROGRESS>DONE', 'IN_PROGRESS>TODO', 'DONE>IN_PROGRESS']);

describe('status workflow', () => {
  it('allows exactly the four transitions of API.md, staying put, and nothing else', async () => {
    for (const from of TASK_STATUSES) {
      for (const to of TASK_STATUSES) {
        const expected = from === to || ALLOWED.has(`${from}>${to}`) ? 0 : GrpcCode.FAILED_PRECONDITION;
        expect([from, to, await codeOf(Promise.resolve().then(() => assertTransition(from as TaskStatus, to as TaskStatus)))]).toEqual([from, to, expected]);
      }
    }
  });
});

describe('content rules', () => {
  const fields = (fill: (v: Violations) => void) => {
    const v = new Violations();
    fill(v);
    return v.list.map((x) => x.field);
  };

  it('accepts titles of 1 to 500 characters (counted as characters, not UTF-16 units)', () => {
    const draft = { listId: 'l', description: '', priority: 'LOW' as const, labels: [] };
    expect(fields((v) => checkNewTask({ ...draft, title: 'x'.repeat(500) }, v))).toEqual([]);
    expect(fields((v) => checkNewTask({ ...draft, title: '😀'.repeat(500) }, v))).toEqual([]);
    expect(fields((v) => checkNewTask({ ...draft, title: 'x'.repeat(501) }, v))).toEqual(['task.title']);
    expect(fields((v) => checkNewTask({ ...draft, title: '   ' }, v))).toEqual(['task.title']);
  });

  it('bounds labels and assignees at 20, without duplicates, assignees named users/{uuid}', () => {
    expect(fields((v) => checkLabels(Array.from({ length: 20 }, (_, i) => `l${i}`), v))).toEqual([]);
    expect(fields((v) => checkLabels(Array.from({ length: 21 }, (_, i) => `l${i}`), v))).toEqual(['task.labels']);
    expect(fields((v) => checkLabels(['a', 'a', 'x'.repeat(51)], v))).toEqual(['task.labels', 'task.labels[2]']);
    const id = '0b6f3c2e-9d1a-4c55-8f0e-2a7b9c1d3e4f';
    expect(fields((v) => assigneeIdsOf([`users/${id}`, 'users/nope', 'bob'], v))).toEqual(['task.assignees[1]', 'task.assignees[2]']);
    expect(fields((v) => assigneeIdsOf([`users/${id}`, `users/${id}`], v))).toEqual(['task.assignees']);
  });
});

describe('changes old → new', () => {
  it('lists only the named fields whose value differs, comparing dates and lists by value', () => {
    // Only the fields the test compares; the rest of the content does not matter here.
    const before = {
      title: 't',
      description: '',
      status: 'TODO',
      priority: 'LOW',
      assignees: ['a'],
      labels: ['x'],
      dueTime: new Date('2030-01-01T00:00:00Z'),
      archived: false,
    } as TaskContent;
    const after: TaskContent = { ...before, assignees: ['a'], labels: ['x', 'y'], dueTime: new Date('2030-01-01T00:00:00Z'), title: 'u' };
    expect(changesBetween(before, after, ['assignees', 'labels', 'due_time', 'status'])).toEqual([
      { field: 'labels', oldValue: ['x'], newValue: ['x', 'y'] },
    ]);
  });
});
