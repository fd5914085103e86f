import type { IdentityServiceService } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import type { AccessTokenVerifier } from '@taskmesh/runtime/access-tokens';
import { clientAddressOf } from '@taskmesh/runtime/client-address';
import { InvalidArgumentError } from '@taskmesh/runtime/errors';
import type { AsyncService } from '@taskmesh/runtime/grpc-server';
import type { PasswordResets } from '../db/password-resets.ts';
import type { Sessions } from '../db/sessions.ts';
import type { SigningKeys } from '../db/signing-keys.ts';
import type { Users } from '../db/users.ts';
import type { PlatformAdmins } from '../db/platform-admins.ts';
import { toSignedInMessage, toUserMessage } from '../mapping.ts';
import type { OrgDirectory } from '../org-directory.ts';

const USER_NAME = /^users\/([0-9a-f-]{36})$/;
const UPDATABLE_USER_FIELDS = new Set(['display_name', 'displayName']);

export function identityHandlers(
  {
    users,
    sessions,
    passwordResets,
    orgs,
    platformAdmins,
  }: { users: Users; sessions: Sessions; passwordResets: PasswordResets; orgs: OrgDirectory; platformAdmins: PlatformAdmins },
  keys: SigningKeys,
  verifier: AccessTokenVerifier,
): AsyncService<typeof IdentityServiceService> {
  return {
    async signUp(req, ctx) {
      return toSignedInMessage(await users.signUp({ ...req, clientAddress: clientAddressOf(ctx) }));
    },
    async logIn(req, ctx) {
      return toSignedInMessage(await sessions.logIn({ ...req, clientAddress: clientAddressOf(ctx) }));
    },
    async logOutEverywhere(_req, ctx) {
      await sessions.logOutEverywhere(await verifier.authenticate(ctx.metadata));
      return {};
    },
    async listEndedSessions() {
      const ended = await sessions.recentlyEnded();
      return { endedSessions: ended.map((s) => ({ sessionId: s.sessionId, forgetTime: new Date(s.forgetAt) })) };
    },
    async checkPlatformAdmin(req) {
      const match = USER_NAME.exec(req.user);
      if (!match) throw new InvalidArgumentError({ field: 'user', description: 'must be users/{user}' });
      return { platformAdmin: await platformAdmins.isAdmin(match[1]!) };
    },
    async refresh(req) {
      if (!req.refreshToken) throw new InvalidArgumentError({ field: 'refresh_token', description: 'is required' });
      return toSignedInMessage(await sessions.refresh(req.refreshToken));
    },
    async logOut(req) {
      if (!req.refreshToken) throw new InvalidArgumentError({ field: 'refresh_token', description: 'is required' });
      await sessions.logOut(req.refreshToken);
      return {};
    },
    async requestPasswordReset(req, ctx) {
      await passwordResets.request(req.email, { clientAddress: clientAddressOf(ctx) });
      return {};
    },
    async resetPassword(req) {
      if (!req.token) throw new InvalidArgumentError({ field: 'token', description: 'is required' });
      await passwordResets.reset(req.token, req.newPassword);
      return {};
    },
    async getCurrentUser(_req, ctx) {
      const principal = await verifier.authenticate(ctx.metadata);
      return { user: toUserMessage(await users.currentUser(principal)) };
    },
    async updateCurrentUser(req, ctx) {
      const principal = await verifier.authenticate(ctx.metadata);
      if (!req.user) throw new InvalidArgumentError({ field: 'user', description: 'is required' });
      const paths = req.updateMask ?? [];
      for (const path of paths) {
        if (!UPDATABLE_USER_FIELDS.has(path)) {
          throw new InvalidArgumentError({ field: 'update_mask', description: `field "${path}" cannot be updated` });
        }
      }
      // An empty mask updates every writable field present in the request.
      const changes = paths.length > 0 || req.user.displayName !== '' ? { displayName: req.user.displayName } : {};
      return { user: toUserMessage(await users.updateCurrentUser(principal, changes)) };
    },
    async deleteCurrentUser(_req, ctx) {
      await users.erase(await verifier.authenticate(ctx.metadata), (userId) => orgs.soleOwnerships(userId));
      return {};
    },
    async getJwks() {
      const { keys: jwks } = await keys.jwks();
      return {
        keys: jwks.map((k) => ({
          kty: k.kty ?? '',
          crv: k.crv ?? '',
          x: k.x ?? '',
          kid: k.kid ?? '',
          alg: k.alg ?? '',
          use: k.use ?? '',
        })),
      };
    },
    async batchGetUsers(req) {
      if (req.names.length > 500) throw new InvalidArgumentError({ field: 'names', description: 'at most 500 names' });
      const ids: string[] = [];
      req.names.forEach((name, i) => {
        const match = USER_NAME.exec(name);
        if (!match) throw new InvalidArgumentError({ field: `names[${i}]`, description: 'must be users/{user}' });
        ids.push(match[1]!);
      });
      return { users: (await users.byIds(ids)).map(toUserMessage) };
    },
  };
}
