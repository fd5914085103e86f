import type { JSONWebKeySet } from 'jose';
import type { IdentityServiceClient } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { callUnary } from './grpc-client.ts';

/** fetchJwks for createAccessTokenVerifier in every service but identity: the key set through GetJwks. */
export function jwksFromIdentity(client: IdentityServiceClient, options: { timeoutMs?: number } = {}): () => Promise<JSONWebKeySet> {
  return async () => {
    const res = await callUnary(client, client.getJwks, {}, { timeoutMs: options.timeoutMs ?? 5_000 });
    // Empty strings are proto3 defaults, not key parameters: leave them out of the JWK.
    return {
      keys: res.keys.map((key) => Object.fromEntries(Object.entries(key).filter(([, value]) => value !== ''))),
    };
  };
}
