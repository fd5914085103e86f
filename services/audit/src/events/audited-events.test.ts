import { readFileSync } from 'node:fs';
import { fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';
import { MemberRoleChanged } from '@taskmesh/gen/taskmesh/org/v1/events.js';
import { Role } from '@taskmesh/gen/taskmesh/org/v1/member.js';
import { TaskMoved } from '@taskmesh/gen/taskmesh/task/v1/events.js';
import { AUDITED_EVENTS, changesOf, NOT_AUDITED } from './audited-events.ts';

/** Every event message declared in a taskmesh/<service>/v1/events.proto of the descriptor set. */
function declaredEventTypes(): string[] {
  const set = fromBinary(FileDescriptorSetSchema, readFileSync(new URL('../../../../gen/descriptor.binpb', import.meta.url)));
  return set.file
    .filter((file) => /^taskmesh\/[a-z_]+\/v\d+\/events\.proto$/.test(file.name ?? ''))
    .flatMap((file) => file.messageType.map((message) => `${file.package}.${message.name}`));
}

describe('audited event types', () => {
  it('classify every event message of every events.proto exactly once, and nothing else', () => {
    const declared = declaredEventTypes().sort();
    expect(declared.length).toBeGreaterThan(20);
    const audited = Object.keys(AUDITED_EVENTS);
    const skipped = Object.keys(NOT_AUDITED);
    expect(audited.filter((type) => skipped.includes(type))).toEqual([]);
    expect([...audited, ...skipped].sort()).toEqual(declared);
  });

  it('turn a role change and a move into field changes', () => {
    const roleChange = MemberRoleChanged.encode({ member: 'm', user: 'u', oldRole: Role.ROLE_VIEWER, newRole: Role.ROLE_ADMIN }).finish();
    expect(changesOf('taskmesh.org.v1.MemberRoleChanged', roleChange)).toEqual([{ field: 'role', oldValue: 'ROLE_VIEWER', newValue: 'ROLE_ADMIN' }]);
    const withinList = TaskMoved.encode({ oldList: 'l1', newList: 'l1', oldPosition: 'a0', newPosition: 'a1' }).finish();
    expect(changesOf('taskmesh.task.v1.TaskMoved', withinList)).toEqual([{ field: 'position', oldValue: 'a0', newValue: 'a1' }]);
    const acrossLists = TaskMoved.encode({ oldList: 'l1', newList: 'l2', oldPosition: 'a0', newPosition: 'a0' }).finish();
    expect(changesOf('taskmesh.task.v1.TaskMoved', acrossLists).map((c) => c.field)).toEqual(['list', 'position']);
  });
});
