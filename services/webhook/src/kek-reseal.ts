import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { openDatabase } from '@taskmesh/runtime/database';
import type { DatabaseTimeouts } from '@taskmesh/runtime/database-timeouts';
import type { KeyRing } from '@taskmesh/runtime/key-encryption';
import { sql, withAppConnection } from '@taskmesh/runtime/tenant-sql';
import { KEK_RESEAL_SETTING } from './db/retention-scope.ts';
import { webhookMigrations } from './db/migrations/index.ts';
import { secretAad } from './domain/signature.ts';
import { webhookNameOf } from './resource-names.ts';

/** What a re-seal run did. */
export interface WebhookResealOutcome {
  /** Endpoints whose row was rewritten. */
  endpoints: number;
  /** Sealed values re-sealed (current secrets plus previous ones). */
  secrets: number;
  /** Endpoints (resource names) with a secret that opens under no KEK of the ring: left as they are. */
  unopenable: string[];
}

interface SealedRow {
  id: string;
  org_id: string;
  secret_sealed: string;
  previous_secret_sealed: string | null;
}

const DEFAULT_BATCH = 500;

/**
 * Re-seals every endpoint's signing secret, and its previous one, under the ring's current KEK, across every
 * org: the webhook half of the KEK rotation. Batches of `batchSize` endpoints in id order, each in a short
 * transaction of its own (read with a row lock, re-sealed in memory, written with the commit: two round trips,
 * nothing else awaited), scoped by the policies of migration 0006. Rows already under the current KEK are not
 * selected, so a second run changes nothing; a concurrent secret rotation waits for the row lock and moves the
 * re-sealed value. A secret that does not open is reported and skipped, the rest carries on.
 */
export async function resealWebhookSecrets(em: EntityManager, ring: KeyRing, options: { batchSize?: number } = {}): Promise<WebhookResealOutcome> {
  const target = ring.current.id;
  const limit = options.batchSize ?? DEFAULT_BATCH;
  const outcome: WebhookResealOutcome = { endpoints: 0, secrets: 0, unopenable: [] };
  const reseal = (sealed: string, aad: string) => {
    if (ring.isCurrent(sealed)) return sealed;
    outcome.secrets++;
    return ring.sealText(ring.openText(sealed, aad), aad);
  };
  let after = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    const rows = await withAppConnection(em, { [KEK_RESEAL_SETTING]: target }, async (tx) => {
      const { rows } = await tx.query<SealedRow>(sql`
        select id, org_id, secret_sealed, previous_secret_sealed from webhooks
        where id > ${after}::uuid
          and (split_part(secret_sealed, '.', 2) <> ${target} or split_part(previous_secret_sealed, '.', 2) <> ${target})
        order by id limit ${limit}::int for update`);
      const updates = [];
      for (const row of rows) {
        const aad = secretAad(row.org_id, row.id);
        const counted = outcome.secrets;
        try {
          const current = reseal(row.secret_sealed, aad);
          const previous = row.previous_secret_sealed === null ? null : reseal(row.previous_secret_sealed, aad);
          updates.push(sql`update webhooks set secret_sealed = ${current}, previous_secret_sealed = ${previous} where id = ${row.id}::uuid`);
        } catch {
          outcome.secrets = counted;
          outcome.unopenable.push(webhookNameOf(row.org_id, row.id));
        }
      }
      await tx.commit(...updates);
      outcome.endpoints += updates.length;
      return rows;
    });
    if (rows.length < limit) return outcome;
    after = rows.at(-1)!.id;
  }
}

/** The webhook schema (migrated, so the policies of 0006 exist) opened for one re-seal run, then closed. */
export async function resealWebhookSecretsAt(
  database: { url: string | undefined; timeouts: DatabaseTimeouts; log: Logger },
  ring: KeyRing,
): Promise<WebhookResealOutcome> {
  const db = await openDatabase({
    service: 'webhook',
    entities: [],
    migrations: webhookMigrations,
    databaseUrl: database.url,
    timeouts: database.timeouts,
    log: database.log,
    poolMax: 1,
  });
  try {
    return await resealWebhookSecrets(db.em, ring);
  } finally {
    await db.close();
  }
}
