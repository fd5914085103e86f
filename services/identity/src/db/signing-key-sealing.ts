import type { EntityManager } from '@mikro-orm/postgresql';
import { SigningKeyRecord } from './entities.ts';
import type { KeyRing } from '../domain/key-encryption.ts';

/**
 * Seals every signing key still stored as a plain JWK (rows from before sealing), and with `resealAll` also
 * re-seals the ones sealed under an older KEK: the KEK rotation. One transaction; returns the rows changed.
 * A row that does not open under any KEK of the ring fails the whole run, naming the KEK it needs.
 */
export async function sealSigningKeys(em: EntityManager, ring: KeyRing, options: { resealAll: boolean }): Promise<number> {
  return em.fork().transactional(async (tx) => {
    const rows = await tx.find(SigningKeyRecord, {}, { lockMode: undefined });
    let changed = 0;
    for (const row of rows) {
      if (row.privateKeySealed) {
        if (!options.resealAll || ring.isCurrent(row.privateKeySealed)) continue;
        row.privateKeySealed = ring.sealJwk(ring.openJwk(row.privateKeySealed, row.kid), row.kid);
      } else if (row.privateJwk) {
        row.privateKeySealed = ring.sealJwk(row.privateJwk, row.kid);
        row.privateJwk = null;
      } else {
        continue;
      }
      changed++;
    }
    await tx.flush();
    return changed;
  });
}
