import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Code } from '../../../gen/client/index.ts';
import { apiError, signUpAs } from '../../edge/test/typed-client.ts';
import { startHarness, type Harness } from './harness.ts';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ rest: true });
});
afterAll(async () => {
  await h?.close();
});

const signedIn = (label: string) => signUpAs(h.url, label);

describe('boards and lists through REST', () => {
  it('runs a board: create, rename with ?updateMask=displayName, lists in order, :move, watch, delete', async () => {
    const alice = await signedIn('alice');
    const viewer = await signedIn('viewer');
    const org = (await alice.api.org.createOrganization({ organization: { displayName: 'REST boards' } })).organization!.name;
    const { token } = await alice.api.org.createInvitation({ parent: org, invitation: { email: viewer.email, role: 'ROLE_VIEWER' } });
    await viewer.api.org.acceptInvitation({ token });

    const board = (await alice.api.board.createBoard({ parent: org, board: { displayName: 'Launch', description: 'keep' } })).board!;
    const renamed = (await alice.api.board.updateBoard({ board: { name: board.name, displayName: 'Launch 2', description: 'dropped' }, updateMask: 'displayName' })).board!;
    expect(renamed).toMatchObject({ displayName: 'Launch 2', description: 'keep' });

    const lists: string[] = [];
    for (const displayName of ['To do', 'Doing', 'Done']) lists.push((await alice.api.board.createList({ parent: board.name, list: { displayName } })).list!.name);

    // Deliver the lists' creation events first: the watch below must see only what happens after it opens.
    await h.board.relay.flush();
    // The viewer watches over HTTP (newline-delimited JSON, Envoy's framing); the stream opens before the change.
    const aborter = new AbortController();
    const stream = viewer.api.board.watchBoard({ name: board.name }, { signal: aborter.signal });
    const firstEvent = stream.next();
    while (h.board.watchHub.size === 0) await new Promise((r) => setImmediate(r));
    const moved = (await alice.api.board.moveList({ name: lists[2]!, beforeList: lists[0]! })).list!;
    const { value } = await firstEvent;
    expect(value!.event).toMatchObject({ type: 'taskmesh.board.v1.ListMoved', resource: lists[2], organization: org });
    expect(value!.event!.payload).toMatchObject({ '@type': 'type.googleapis.com/taskmesh.board.v1.ListMoved', newPosition: moved.position });
    aborter.abort();

    const order = (await viewer.api.board.listLists({ parent: board.name })).lists.map((l) => l.displayName);
    expect(order).toEqual(['Done', 'To do', 'Doing']);

    const denied = await apiError(viewer.api.board.createList({ parent: board.name, list: { displayName: 'Nope' } }));
    expect([denied.httpStatus, denied.code]).toEqual([403, Code.PERMISSION_DENIED]);
    const invalid = await apiError(alice.api.board.createBoard({ parent: org, board: { displayName: '' } }));
    expect([invalid.httpStatus, invalid.code]).toEqual([400, Code.INVALID_ARGUMENT]);
    const stale = await apiError(alice.api.board.updateBoard({ board: { name: board.name, displayName: 'x', etag: board.etag } }));
    expect([stale.httpStatus, stale.code]).toEqual([409, Code.ABORTED]);

    await alice.api.board.deleteList({ name: lists[1]!, force: true });
    expect((await alice.api.board.listLists({ parent: board.name })).lists).toHaveLength(2);
    await alice.api.board.deleteBoard({ name: board.name });
    const gone = await apiError(viewer.api.board.getBoard({ name: board.name }));
    expect([gone.httpStatus, gone.code]).toEqual([404, Code.NOT_FOUND]);
    const listsGone = await apiError(viewer.api.board.listLists({ parent: board.name }));
    expect(listsGone.httpStatus).toBe(404);
  });

  it('CheckBoardList has no HTTP route', async () => {
    const res = await fetch(`${h.url}/v1/organizations/x/boards/y:checkBoardList`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(404);
  });
});
