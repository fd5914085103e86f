import { describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeEnvelope, filterSubjectFor, subjectFor, subjectParts } from './envelope.ts';

describe('event subjects', () => {
  it('maps a payload type to its service and a dotted suffix', () => {
    expect(subjectParts('taskmesh.task.v1.TaskCreated')).toEqual({ service: 'task', suffix: 'task.created' });
    expect(subjectParts('taskmesh.task.v1.TaskStatusChanged')).toEqual({ service: 'task', suffix: 'task.status_changed' });
    expect(subjectParts('taskmesh.identity.v1.UserSignedUp')).toEqual({ service: 'identity', suffix: 'user.signed_up' });
    expect(() => subjectParts('google.protobuf.Empty')).toThrow(/taskmesh/);
  });

  it('puts the org id in the subject, or _ for events outside any org', () => {
    expect(subjectFor('taskmesh', { type: 'taskmesh.org.v1.MemberAdded', organization: 'organizations/o-1' })).toBe(
      'taskmesh.org.o-1.member.added',
    );
    expect(subjectFor('taskmesh', { type: 'taskmesh.identity.v1.UserSignedUp', organization: '' })).toBe(
      'taskmesh.identity._.user.signed_up',
    );
  });

  it('filters a consumer by the narrowest subject covering its types', () => {
    expect(filterSubjectFor('taskmesh', ['taskmesh.task.v1.TaskAssigned'])).toBe('taskmesh.task.*.task.assigned');
    expect(filterSubjectFor('taskmesh', ['taskmesh.task.v1.TaskAssigned', 'taskmesh.task.v1.TaskCreated'])).toBe('taskmesh.task.>');
    expect(filterSubjectFor('taskmesh', ['taskmesh.task.v1.TaskAssigned', 'taskmesh.org.v1.MemberAdded'])).toBe('taskmesh.>');
  });
});

describe('event envelope', () => {
  it('round-trips through taskmesh.events.v1.Event with the payload packed as Any', () => {
    const event = {
      id: '5a0c2d0e-8f7b-4a53-9f43-1f1f9b1c2d3e',
      type: 'taskmesh.task.v1.TaskAssigned',
      organization: 'organizations/o-1',
      actor: 'users/u-1',
      resource: 'organizations/o-1/boards/b/tasks/t',
      occurTime: new Date('2026-11-23T10:00:00.123Z'),
      payload: new Uint8Array([10, 3, 97, 98, 99]),
    };
    const decoded = decodeEnvelope(encodeEnvelope(event));
    expect({ ...decoded, payload: [...decoded.payload] }).toEqual({ ...event, payload: [...event.payload] });
  });

  it('rejects bytes that are not an event envelope', () => {
    expect(() => decodeEnvelope(new Uint8Array([0xff, 0x01, 0x02]))).toThrow();
    expect(() => decodeEnvelope(new Uint8Array())).toThrow(/lacks/);
  });
});
