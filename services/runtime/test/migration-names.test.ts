import { describe, expect, it } from 'vitest';
import { auditMigrations } from '../../audit/src/db/migrations/index.ts';
import { boardMigrations } from '../../board/src/db/migrations/index.ts';
import { identityMigrations } from '../../identity/src/db/migrations/index.ts';
import { notifyMigrations } from '../../notify/src/db/migrations/index.ts';
import { orgMigrations } from '../../org/src/db/migrations/index.ts';

// Migration names are the ids existing databases recorded: a released one renamed or reordered would run again.
const RELEASED: Record<string, string[]> = {
  identity: ['0001-initial', '0002-outbox-trace-context', '0003-known-devices', '0004-sealed-signing-keys'],
  org: ['0001-initial', '0002-outbox-trace-context'],
  board: ['0001-initial', '0002-outbox-trace-context'],
  audit: ['0001-initial'],
  notify: ['0001-initial'],
};

describe('released migrations', () => {
  const lists = { identity: identityMigrations, org: orgMigrations, board: boardMigrations, audit: auditMigrations, notify: notifyMigrations };

  it.each(Object.entries(lists))('%s keeps every released name, in order, ahead of anything new', (service, list) => {
    const names = list.map((m) => m.name);
    expect(names.slice(0, RELEASED[service]!.length)).toEqual(RELEASED[service]);
  });
});
