import { Migration } from '@mikro-orm/migrations';

/**
 * Signing private keys sealed under the KEK. The migration cannot seal (it has no KEK): the service seals the
 * plain rows at start (sealPlainSigningKeys) and clears their private_jwk.
 */
export class SealedSigningKeys extends Migration {
  override name = '0004-sealed-signing-keys';

  override up(): void {
    this.addSql(`
      alter table signing_keys add column private_key_sealed text null;
      alter table signing_keys alter column private_jwk drop not null;
    `);
  }
}
