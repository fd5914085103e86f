import { randomBytes, randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { SignJWT, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JSONWebKeySet } from 'jose';
import { SigningKeyRecord } from './entities.ts';
import type { KeyRing } from '../domain/key-encryption.ts';

export interface AccessTokenClaims {
  userId: string;
  sessionId: string;
}

/**
 * Ed25519 signing keys with a kid. The newest key signs; a superseded key stays in the JWKS until every
 * token it signed has expired, so rotating never logs anyone out. Keys live in the database so that every
 * replica signs with the same key set.
 *
 * Signing never touches the database: it runs inside the caller's transaction, where a query on a second
 * connection could wait for a pool that this very transaction helps to exhaust. Another replica's rotation is
 * picked up by a background reload (startReloading).
 */
export class SigningKeys {
  private active: { kid: string; key: CryptoKey } | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly em: EntityManager,
    /** Seals private keys before they are stored, opens them when loaded. */
    private readonly ring: KeyRing,
    private readonly settings: { issuer: string; audience: string; accessTokenTtlSeconds: number },
  ) {}

  /** Reloads the current key every intervalMs off the request path; a failed reload keeps the key in use. */
  startReloading(intervalMs: number, log: { warn(obj: object, msg: string): void }): void {
    this.stopReloading();
    this.reloadTimer = setInterval(() => {
      this.reload().catch((err: unknown) => log.warn({ err }, 'signing key reload failed; signing with the loaded key'));
    }, intervalMs);
    this.reloadTimer.unref();
  }

  stopReloading(): void {
    clearInterval(this.reloadTimer);
    this.reloadTimer = undefined;
  }

  /** Creates the first key when there is none. */
  async ensureKey(): Promise<void> {
    const em = this.em.fork();
    const count = await em.count(SigningKeyRecord, { supersededAt: null });
    if (count === 0) await this.rotate();
    else await this.reload();
  }

  /** Makes a new signing key current; the previous one keeps verifying until its tokens have expired. */
  async rotate(): Promise<string> {
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const kid = randomBytes(12).toString('base64url');
    const now = new Date();
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' };
    const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: 'EdDSA' };
    await this.em.fork().transactional(async (em) => {
      await em.nativeUpdate(SigningKeyRecord, { supersededAt: null }, { supersededAt: now });
      em.create(SigningKeyRecord, { kid, privateJwk: null, privateKeySealed: this.ring.sealJwk(privateJwk, kid), publicJwk, createdAt: now, supersededAt: null });
    });
    await this.reload();
    return kid;
  }

  /** Reads the current key (at start, after a rotation, and from the background timer). */
  async reload(): Promise<void> {
    const em = this.em.fork();
    const current = await em.findOne(SigningKeyRecord, { supersededAt: null }, { orderBy: { createdAt: 'desc' } });
    if (!current) throw new Error('no signing key');
    if (!current.privateKeySealed) throw new Error(`signing key ${current.kid} is not sealed yet`);
    const privateJwk = this.ring.openJwk(current.privateKeySealed, current.kid);
    this.active = { kid: current.kid, key: (await importJWK(privateJwk, 'EdDSA')) as CryptoKey };
  }

  /** Public keys that may still have valid tokens out there. */
  async jwks(): Promise<JSONWebKeySet> {
    const horizon = new Date(Date.now() - (this.settings.accessTokenTtlSeconds + 60) * 1000);
    const records = await this.em
      .fork()
      .find(SigningKeyRecord, { $or: [{ supersededAt: null }, { supersededAt: { $gt: horizon } }] }, { orderBy: { createdAt: 'desc' } });
    return { keys: records.map((r) => r.publicJwk) };
  }

  async sign(claims: AccessTokenClaims): Promise<string> {
    if (!this.active) throw new Error('no signing key loaded (ensureKey first)');
    const { kid, key } = this.active;
    return new SignJWT({ sid: claims.sessionId })
      .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'at+jwt' })
      .setIssuer(this.settings.issuer)
      .setAudience(this.settings.audience)
      .setSubject(claims.userId)
      .setIssuedAt()
      .setExpirationTime(`${this.settings.accessTokenTtlSeconds}s`)
      .setJti(randomUUID())
      .sign(key);
  }
}
