import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forkForOrg } from '@taskmesh/runtime/tenancy';
import { natsForTests, startPrivateNatsServer, type PrivateNatsServer } from '@taskmesh/runtime/testing/test-nats';
import { createOrganization, eventually, orgCall, signUp, startAuditStack, type AuditStack, type TestUser } from './harness.ts';

// Runs wherever JetStream tests run (TASKMESH_REQUIRE_NATS=1 makes a missing NATS fail, not skip); the
// server it stops and starts is a private one, so other suites on the shared server are not disturbed.
const natsUrl = await natsForTests();

describe.skipIf(!natsUrl)('audit log through a NATS outage', () => {
  let server: PrivateNatsServer;
  let stack: AuditStack;
  let owner: TestUser;

  beforeAll(async () => {
    server = await startPrivateNatsServer();
    stack = await startAuditStack({ natsUrl: server.url });
    owner = await signUp(stack, 'owner');
  }, 120_000);
  afterAll(async () => {
    await server?.start().catch(() => undefined);
    await stack?.close();
    await server?.dispose();
  });

  it('loses no event and records none twice when NATS stops mid-run and comes back', async () => {
    const org = await createOrganization(stack, owner, 'Outage');
    const rename = (displayName: string) =>
      orgCall(stack, (c) => c.updateOrganization, { organization: { name: org, displayName, etag: '' }, updateMask: ['display_name'] }, owner);
    await rename('Before 1');
    await rename('Before 2');
    await eventually(async () => (await recorded(org)).length === 3, 'the events before the outage');

    await server.stop();
    // The API keeps working: the events wait in org's outbox.
    for (const name of ['During 1', 'During 2', 'During 3']) await rename(name);
    await server.start();
    await rename('After');

    const entries = await eventually(async () => {
      const rows = await recorded(org);
      return rows.length >= 7 && rows;
    }, 'every event after the outage');
    // Org's events are consumed in order: once a later one is recorded, nothing more of the above can come.
    const sentinel = await createOrganization(stack, owner, 'Sentinel');
    await eventually(async () => (await recorded(sentinel)).length > 0, 'the sentinel event');

    const final = await recorded(org);
    expect(final).toEqual(entries);
    expect(new Set(final.map((e) => e.id)).size).toBe(final.length);
    expect(final.map((e) => e.displayName)).toEqual([undefined, 'Before 1', 'Before 2', 'During 1', 'During 2', 'During 3', 'After']);
  }, 180_000);

  /** The org's recorded events, oldest first, with the display name their changes set. */
  async function recorded(org: string): Promise<{ id: string; displayName: unknown }[]> {
    const orgId = org.slice('organizations/'.length);
    const page = await stack.audit.auditLog.list(forkForOrg(stack.audit.db.em, orgId), { orgId, pageSize: 500, fingerprint: '' });
    return page.entries
      .reverse()
      .map((row) => ({ id: row.id, displayName: row.changes.find((c) => c.field === 'display_name')?.newValue }));
  }
});
