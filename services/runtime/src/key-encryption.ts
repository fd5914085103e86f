import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { ConfigError } from './config.ts';

/** A stored private key is `v1.<kek id>.<iv>.<ciphertext>.<tag>` (base64url): AES-256-GCM, the kid as AAD. */
const FORMAT = 'v1';

/** A key-encryption key: 32 bytes, from TASKMESH_KEK (base64) or the embedded data dir. */
export class KeyEncryptionKey {
  /** Names the KEK in what it sealed, so a wrong one is reported as such (not a bare "decryption failed"). */
  readonly id: string;

  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new ConfigError(`a key-encryption key must be 32 bytes, got ${key.length}`);
    this.id = createHash('sha256').update('taskmesh-kek:').update(key).digest('base64url').slice(0, 12);
  }

  static fromBase64(value: string, variable: string): KeyEncryptionKey {
    const bytes = Buffer.from(value.trim(), 'base64');
    if (bytes.length !== 32) {
      throw new ConfigError(`${variable} must be 32 random bytes in base64 (e.g. \`openssl rand -base64 32\`), got ${bytes.length} bytes`);
    }
    return new KeyEncryptionKey(bytes);
  }

  seal(plaintext: string, aad: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [FORMAT, this.id, iv, ciphertext, cipher.getAuthTag()].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
  }

  open(parts: SealedParts, aad: string): string {
    const decipher = createDecipheriv('aes-256-gcm', this.key, parts.iv);
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(parts.tag);
    return Buffer.concat([decipher.update(parts.ciphertext), decipher.final()]).toString('utf8');
  }
}

interface SealedParts {
  kekId: string;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

function parseSealed(sealed: string): SealedParts {
  const [format, kekId, iv, ciphertext, tag, ...rest] = sealed.split('.');
  if (format !== FORMAT || !kekId || !iv || !ciphertext || !tag || rest.length > 0) throw new Error('not a sealed key');
  const b = (s: string) => Buffer.from(s, 'base64url');
  return { kekId, iv: b(iv), ciphertext: b(ciphertext), tag: b(tag) };
}

/**
 * The KEK that seals (current) and the ones that may still open rows (previous, during a rotation).
 * Signing private keys are stored sealed under it; only the public half is stored in the clear.
 */
export class KeyRing {
  constructor(
    readonly current: KeyEncryptionKey,
    readonly previous: readonly KeyEncryptionKey[] = [],
  ) {}

  sealJwk(jwk: JWK, kid: string): string {
    return this.current.seal(JSON.stringify(jwk), kid);
  }

  /** Opens a sealed private key; fails naming the KEK it needs when none of ours is that one. */
  openJwk(sealed: string, kid: string): JWK {
    const parts = parseSealed(sealed);
    const kek = [this.current, ...this.previous].find((k) => k.id === parts.kekId);
    if (!kek) {
      throw new Error(
        `signing key ${kid} is encrypted under key-encryption key ${parts.kekId}, but TASKMESH_KEK is ${this.current.id}` +
          (this.previous.length ? ` (previous: ${this.previous.map((k) => k.id).join(', ')})` : '') +
          '; set the KEK the keys were sealed with (TASKMESH_KEK_PREVIOUS during a rotation)',
      );
    }
    try {
      return JSON.parse(kek.open(parts, kid)) as JWK;
    } catch {
      throw new Error(`signing key ${kid} does not open under key-encryption key ${kek.id}: the row was altered or belongs to another key id`);
    }
  }

  /** Seals any short secret (e.g. a webhook signing secret) under the current KEK; `aad` binds it to its row. */
  sealText(plaintext: string, aad: string): string {
    return this.current.seal(plaintext, aad);
  }

  /** Opens what sealText sealed, with the current or a previous KEK. */
  openText(sealed: string, aad: string): string {
    const parts = parseSealed(sealed);
    const kek = [this.current, ...this.previous].find((k) => k.id === parts.kekId);
    if (!kek) throw new Error(`a secret is sealed under key-encryption key ${parts.kekId}, which is neither TASKMESH_KEK nor TASKMESH_KEK_PREVIOUS`);
    return kek.open(parts, aad);
  }

  /** Whether a sealed value is under the current KEK already. */
  isCurrent(sealed: string): boolean {
    return parseSealed(sealed).kekId === this.current.id;
  }
}

export interface KekSettings {
  TASKMESH_KEK?: string | undefined;
  TASKMESH_KEK_PREVIOUS?: string | undefined;
  TASKMESH_DATA_DIR: string;
}

/**
 * The key ring from TASKMESH_KEK (and TASKMESH_KEK_PREVIOUS). Without TASKMESH_KEK: the embedded default
 * (`dataDirFallback`) keeps one in `$TASKMESH_DATA_DIR/kek` (created with mode 0600, reused after); a
 * standalone service fails fast.
 */
export function loadKeyRing(settings: KekSettings, options: { dataDirFallback: boolean }): KeyRing {
  const previous = settings.TASKMESH_KEK_PREVIOUS ? [KeyEncryptionKey.fromBase64(settings.TASKMESH_KEK_PREVIOUS, 'TASKMESH_KEK_PREVIOUS')] : [];
  if (settings.TASKMESH_KEK) return new KeyRing(KeyEncryptionKey.fromBase64(settings.TASKMESH_KEK, 'TASKMESH_KEK'), previous);
  if (!options.dataDirFallback) {
    throw new ConfigError('TASKMESH_KEK is required: the key-encryption key of the signing keys, 32 random bytes in base64 (`openssl rand -base64 32`)');
  }
  return new KeyRing(dataDirKek(settings.TASKMESH_DATA_DIR), previous);
}

/** The embedded KEK file: read when present, else created owner-only. */
export function dataDirKek(dataDir: string): KeyEncryptionKey {
  const file = join(dataDir, 'kek');
  try {
    const value = readFileSync(file, 'utf8');
    // Tighten a file someone loosened; the key stays usable.
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
    return KeyEncryptionKey.fromBase64(value, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(32);
  try {
    // 'wx': of two processes creating it at once, one wins and the other reads the winner's key.
    writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return dataDirKek(dataDir);
    throw err;
  }
  return new KeyEncryptionKey(key);
}
