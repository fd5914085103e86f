import { fromBinary, toJson } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { ListTasksResponse } from '@taskmesh/gen/taskmesh/task/v1/task_service.js';
import { Priority, TaskStatus, type Task } from '@taskmesh/gen/taskmesh/task/v1/task.js';
import { defaultDescriptorPath } from './edge.ts';
import { collectHttpBindings, loadDescriptorSet } from './http-bindings.ts';
import { keepJson, keptJson, LARGE_RESPONSE_MIN_BYTES, largeResponseMemo } from './large-response-memo.ts';
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
    const memo = largeResponseMemo(32 * 1024 * 1024);
    const bytes = page(200);
    expect(bytes.length).toBeGreaterThan(LARGE_RESPONSE_MIN_BYTES);
    const first = encodeResponseMessage(listTasks, bytes, registry, memo).body;
    const again = encodeResponseMessage(listTasks, Uint8Array.from(bytes), registry, memo).body;
    expect(again).toBe(first); // kept, not written again
    expect(text(again)).toBe(reflective(bytes));
    expect([memo.hits, memo.misses]).toEqual([1, 1]);

    // Same length, one byte changed in a title (a place the key's sample may well miss): equals decides.
    const changed = Uint8Array.from(bytes);
    const at = Buffer.from(changed).indexOf('quarterly plan 137');
    changed[at] = 'Q'.charCodeAt(0);
    const answer = encodeResponseMessage(listTasks, changed, registry, memo).body;
    expect(answer).not.toBe(first);
    expect(text(answer)).toBe(reflective(changed));
    expect(text(answer)).toContain('Quarterly plan 137');
    // Without a memo (or with a budget of 0) every payload is written.
    expect(encodeResponseMessage(listTasks, bytes, registry).body).not.toBe(first);
    const none = largeResponseMemo(0);
    expect(encodeResponseMessage(listTasks, bytes, registry, none).body).not.toBe(encodeResponseMessage(listTasks, bytes, registry, none).body);
  });

  const size = LARGE_RESPONSE_MIN_BYTES + 100;

  it('finds nothing for a different type, a different payload, or a small one', () => {
    const memo = largeResponseMemo(10 * size);
    const big = new Uint8Array(size).fill(7);
    keepJson(memo, 'a.B', big, new Uint8Array([1]));
    expect(keptJson(memo, 'a.B', Uint8Array.from(big))).toEqual(new Uint8Array([1]));
    expect(keptJson(memo, 'a.C', big)).toBeUndefined();
    const other = Uint8Array.from(big);
    other[size / 2] = 8;
    expect(keptJson(memo, 'a.B', other)).toBeUndefined();
    const small = new Uint8Array(LARGE_RESPONSE_MIN_BYTES - 1);
    keepJson(memo, 'a.B', small, new Uint8Array([2]));
    expect(keptJson(memo, 'a.B', small)).toBeUndefined();
    expect(memo.size).toBe(1);
  });

  it('keeps its own copy of the bytes and stays within its budget, least recently used out first', () => {
    // Room for two payloads with their JSON in each half of the budget.
    const memo = largeResponseMemo(4 * (size + 100) + 10);
    const payload = (fill: number) => new Uint8Array(size).fill(fill);
    const first = payload(1);
    keepJson(memo, 't', first, new Uint8Array(100));
    first.fill(9); // the caller reuses its buffer
    expect(keptJson(memo, 't', payload(1))).toBeDefined();
    expect(keptJson(memo, 't', first)).toBeUndefined();
    for (const fill of [2, 3]) keepJson(memo, 't', payload(fill), new Uint8Array(100));
    keptJson(memo, 't', payload(1)); // 1 used more recently than 2 and 3
    for (const fill of [4, 5]) keepJson(memo, 't', payload(fill), new Uint8Array(100));
    expect(memo.cost).toBeLessThanOrEqual(memo.budget);
    expect(keptJson(memo, 't', payload(2))).toBeUndefined();
    expect(keptJson(memo, 't', payload(1))).toBeDefined();
    expect(keptJson(memo, 't', payload(5))).toBeDefined();
    expect(memo.evictions).toBeGreaterThan(0);
    keepJson(memo, 't', new Uint8Array(3 * size).fill(4), new Uint8Array(1));
    expect(keptJson(memo, 't', new Uint8Array(3 * size).fill(4))).toBeUndefined();
  });
});
