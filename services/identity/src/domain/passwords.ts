import argon2 from 'argon2';
import { newSecretToken } from './credentials.ts';

/** argon2id cost parameters (OWASP baseline by default, from configuration). */
export interface Argon2Cost {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

/** Password hashing with argon2id; an unknown account is verified against a dummy hash, so both cost the same. */
export class Passwords {
  private readonly dummyHash: Promise<string>;

  constructor(private readonly cost: Argon2Cost) {
    this.dummyHash = this.hash(newSecretToken());
  }

  hash(password: string): Promise<string> {
    return argon2.hash(password, { type: argon2.argon2id, ...this.cost });
  }

  /** False for a wrong password, and for an account that does not exist (`hash` undefined). */
  async verify(hash: string | undefined, password: string): Promise<boolean> {
    return argon2.verify(hash ?? (await this.dummyHash), password).catch(() => false);
  }
}
