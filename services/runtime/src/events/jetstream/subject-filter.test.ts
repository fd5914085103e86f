import { describe, expect, it } from 'vitest';
import { subjectMayCarry } from './subject-filter.ts';

describe('subjectMayCarry', () => {
  const mayCarry = subjectMayCarry('taskmesh', ['taskmesh.task.v1.TaskAssigned', 'taskmesh.org.v1.MemberRemoved']);

  it('passes subjects of handled types in any org', () => {
    expect(mayCarry('taskmesh.task.org-1.task.assigned')).toBe(true);
    expect(mayCarry('taskmesh.org.org-2.member.removed')).toBe(true);
  });

  it('rejects subjects that cannot carry a handled type', () => {
    expect(mayCarry('taskmesh.task.org-1.task.created')).toBe(false);
    expect(mayCarry('taskmesh.board.org-1.member.removed')).toBe(false);
  });

  it('passes anything it cannot judge, to be decoded and checked', () => {
    expect(mayCarry('elsewhere.task.org-1.task.created')).toBe(true);
    expect(mayCarry('taskmesh.task')).toBe(true);
  });
});
