import { fromBinary, toJson } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { ListTasksResponse } from '@taskmesh/gen/taskmesh/task/v1/task_service.js';
import { Priority, TaskStatus, type Task } from '@taskmesh/gen/taskmesh/task/v1/task.js';
import { defaultDescriptorPath } from './edge.ts';
import { collectHttpBindings, loadDescriptorSet } from './http-bindings.ts';
import { LargeResponseMemo } from './large-response-memo.ts';
import { encodeResponseMessage } from './response-message.ts';

const registry = loadDescriptorSet(defaultDescriptorPath);
const listTasks = collectHttpBindings(registry).find((b) => b.method.output.typeName === 'taskmesh.task.v1.ListTasksResponse' && !b.responseBody)!;

function page(count: number, title = 'Write the quarterly plan'): Uint8Array {
  const tasks: Task[] = Array.from({ length: count }, (_, i) => ({
    name: `organizations/0e7e1b8a-0000-4000-8000-000000000001/boards/0e7e1b8a-0000-4000-8000-000000000002/tasks/${String(i).padStart(12, '0')}`,
    list: 'organizations/0e7e1b8a-0000-4000-8000-000000000001/boards/0e7e1b8a-0000-4000-8000-000000000002/lists/l1',
    title: `${title} ${i}`,
    description: i % 3 === 0 ? 'ünïcode and "quotes"' : '',
    status: TaskStatus.TASK_STATUS_TODO,
    priority: Priority.PRIORITY_MEDIUM,
    assignees: i % 2 ? ['users/u1'] : [],
    labels: ['bench'],
    dueTime: undefined,
    archived: false,
    position: `a${i}`,
    creator: 'users/u1',
    etag: 'v1',
    createTime: new Date(1_700_000_000_000 + i),
    updateTime: new Date(1_700_000_000_000 + i),
  }));
  return ListTasksResponse.encode({ tasks, nextPageToken: 'token' }).finish();
}

const reflective = (bytes: Uint8Array) =>
  JSON.stringify(toJson(listTasks.method.output, fromBinary(listTasks.method.output, bytes), { alwaysEmitImplicit: true, registry }));
const text = (body: string | Uint8Array) => (typeof body === 'string' ? body : new TextDecoder().decode(body));

describe('large response memo', () => {
  it('answers the same large payload with the JSON written for it, and a changed one with its own', () => {
    const bytes = page(200);
    expect(bytes.length).toBeGreaterThan(16 * 1024);
    const first = encodeResponseMessage(listTasks, bytes, registry).body;
    const again = encodeResponseMessage(listTasks, Uint8Array.from(bytes), registry).body;
    expect(again).toBe(first); // kept, not written again
    expect(text(again)).toBe(reflective(bytes));

    // Same length, one byte changed in a title (a place the key's sample may well miss): equals decides.
    const changed = Uint8Array.from(bytes);
    const at = Buffer.from(changed).indexOf('quarterly plan 137');
    changed[at] = 'Q'.charCodeAt(0);
    const answer = encodeResponseMessage(listTasks, changed, registry).body;
    expect(answer).not.toBe(first);
    expect(text(answer)).toBe(reflective(changed));
    expect(text(answer)).toContain('Quarterly plan 137');
  });

  it('finds nothing for a different type, a different payload, or a small one', () => {
    const memo = new LargeResponseMemo(100, 10_000);
    const big = new Uint8Array(500).fill(7);
    memo.set('a.B', big, new Uint8Array([1]));
    expect(memo.get('a.B', Uint8Array.from(big))).toEqual(new Uint8Array([1]));
    expect(memo.get('a.C', big)).toBeUndefined();
    const other = Uint8Array.from(big);
    other[250] = 8;
    expect(memo.get('a.B', other)).toBeUndefined();
    memo.set('a.B', new Uint8Array(50), new Uint8Array([2]));
    expect(memo.get('a.B', new Uint8Array(50))).toBeUndefined();
  });

  it('keeps its own copy of the bytes and stays within its budget, least recently used out first', () => {
    const memo = new LargeResponseMemo(100, 2_000);
    const payload = (fill: number) => new Uint8Array(600).fill(fill);
    const first = payload(1);
    memo.set('t', first, new Uint8Array(100));
    first.fill(9); // the caller reuses its buffer
    expect(memo.get('t', payload(1))).toBeDefined();
    expect(memo.get('t', first)).toBeUndefined();
    memo.set('t', payload(2), new Uint8Array(100));
    memo.get('t', payload(1)); // 1 used more recently than 2
    memo.set('t', payload(3), new Uint8Array(100));
    expect(memo.heldBytes).toBeLessThanOrEqual(2_000);
    expect(memo.get('t', payload(2))).toBeUndefined();
    expect(memo.get('t', payload(1))).toBeDefined();
    expect(memo.get('t', payload(3))).toBeDefined();
    memo.set('t', new Uint8Array(3_000).fill(4), new Uint8Array(1));
    expect(memo.get('t', new Uint8Array(3_000).fill(4))).toBeUndefined();
  });
});
