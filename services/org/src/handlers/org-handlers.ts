import type { Role } from '@taskmesh/gen/taskmesh/org/v1/member.js';
import type { OrgServiceService } from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import { InvalidArgumentError, NotFoundError } from '@taskmesh/runtime/errors';
import { roleFromProto, roleToProto, type OrgMembership, type OrgRole } from '@taskmesh/runtime/membership-lookup';
import type { TenantAwareService } from '@taskmesh/runtime/org-context';
import { exportContext, forEachPaged } from '@taskmesh/runtime/org-export';
import { parseName, userIdOf } from '@taskmesh/runtime/resource-names';
import type { Invitations } from '../db/invitations.ts';
import type { Members } from '../db/members.ts';
import type { Organizations } from '../db/organizations.ts';
import type { UserErasure } from '../db/user-erasure.ts';
import { memberName, orgName, toInvitationMessage, toMemberMessage, toOrganizationMessage, userName } from '../mapping.ts';
import { toApiTokenMessage, type ApiTokens } from '../api-tokens.ts';
import type { orgAccessTable } from './access-table.ts';

/** Update-mask paths accepted per resource, in both spellings (REST clients send lowerCamelCase). */
export function maskedFields(paths: string[] | undefined, allowed: Record<string, string>): Set<string> | undefined {
  if (!paths || paths.length === 0) return undefined;
  const fields = new Set<string>();
  for (const path of paths) {
    const field = allowed[path];
    if (!field) throw new InvalidArgumentError({ field: 'update_mask', description: `field "${path}" cannot be updated` });
    fields.add(field);
  }
  return fields;
}

function requiredRole(role: Role | undefined, field: string): OrgRole {
  const parsed = role === undefined ? undefined : roleFromProto(role);
  if (!parsed) throw new InvalidArgumentError({ field, description: 'must be ROLE_OWNER, ROLE_ADMIN, ROLE_MEMBER or ROLE_VIEWER' });
  return parsed;
}

/** Proto ⇄ domain mapping only; authentication, org and permission are the org-context chain's. */
export function orgHandlers({
  organizations,
  members,
  invitations,
  membershipOf,
  apiTokens,
  userErasure,
}: {
  organizations: Organizations;
  members: Members;
  invitations: Invitations;
  membershipOf(orgId: string, userId: string): Promise<OrgMembership | undefined>;
  apiTokens: ApiTokens;
  userErasure: UserErasure;
}): TenantAwareService<typeof OrgServiceService, typeof orgAccessTable> {
  return {
    async createOrganization(req, { principal }) {
      const org = await organizations.create(principal, {
        displayName: req.organization?.displayName ?? '',
        requestId: req.requestId,
      });
      return { organization: toOrganizationMessage(org) };
    },
    async listOrganizations(req, { principal }) {
      const page = await organizations.list(principal, req);
      return { organizations: page.items.map(toOrganizationMessage), nextPageToken: page.nextPageToken };
    },
    async getOrganization(req, tc) {
      parseName(req.name, 'organizations/{org}');
      return { organization: toOrganizationMessage(await organizations.get(tc)) };
    },
    async updateOrganization(req, tc) {
      const organization = req.organization!;
      parseName(organization.name, 'organizations/{org}', 'organization.name');
      const fields = maskedFields(req.updateMask, { display_name: 'displayName', displayName: 'displayName' });
      const changes =
        (fields ? fields.has('displayName') : organization.displayName !== '') ? { displayName: organization.displayName } : {};
      return { organization: toOrganizationMessage(await organizations.update(tc, changes, organization.etag)) };
    },
    async deleteOrganization(req, tc) {
      parseName(req.name, 'organizations/{org}');
      await organizations.delete(tc, req.etag);
      return {};
    },
    async listMembers(req, tc) {
      parseName(req.parent, 'organizations/{org}', 'parent');
      const page = await members.list(tc, req);
      return { members: page.items.map(toMemberMessage), nextPageToken: page.nextPageToken };
    },
    async updateMember(req, tc) {
      const member = req.member!;
      const { user } = parseName<'org' | 'user'>(member.name, 'organizations/{org}/members/{user}', 'member.name');
      const fields = maskedFields(req.updateMask, { role: 'role' });
      if (fields && !fields.has('role')) throw new InvalidArgumentError({ field: 'update_mask', description: 'must include role' });
      const role = requiredRole(member.role, 'member.role');
      return { member: toMemberMessage(await members.updateRole(tc, user, role, member.etag)) };
    },
    async deleteMember(req, tc) {
      const { user } = parseName<'org' | 'user'>(req.name, 'organizations/{org}/members/{user}');
      await members.remove(tc, user);
      return {};
    },
    async createInvitation(req, tc) {
      parseName(req.parent, 'organizations/{org}', 'parent');
      const role = req.invitation?.role ? roleFromProto(req.invitation.role) : undefined;
      if (req.invitation?.role && !role) throw new InvalidArgumentError({ field: 'invitation.role', description: 'is not a role' });
      const { invitation, token } = await invitations.create(tc, {
        email: req.invitation?.email ?? '',
        role,
        requestId: req.requestId,
      });
      return { invitation: toInvitationMessage(invitation), token };
    },
    async listInvitations(req, tc) {
      parseName(req.parent, 'organizations/{org}', 'parent');
      const page = await invitations.list(tc, req);
      return { invitations: page.items.map(toInvitationMessage), nextPageToken: page.nextPageToken };
    },
    async deleteInvitation(req, tc) {
      const { invitation } = parseName<'org' | 'invitation'>(req.name, 'organizations/{org}/invitations/{invitation}');
      await invitations.revoke(tc, invitation);
      return {};
    },
    async acceptInvitation(req, { principal }) {
      return { member: toMemberMessage(await invitations.accept(principal, req.token)) };
    },
    async createApiToken(req, tc) {
      const role = req.apiToken?.role ? roleFromProto(req.apiToken.role) : undefined;
      if (req.apiToken?.role && !role) throw new InvalidArgumentError({ field: 'api_token.role', description: 'is not a role' });
      const { record, token } = await apiTokens.create(tc, {
        displayName: req.apiToken?.displayName ?? '',
        role,
        expireTime: req.apiToken?.expireTime,
      });
      return { apiToken: toApiTokenMessage(record), token };
    },
    async listApiTokens(req, tc) {
      const page = await apiTokens.list(tc, req);
      return { apiTokens: page.items.map(toApiTokenMessage), nextPageToken: page.nextPageToken };
    },
    async deleteApiToken(req, tc) {
      const { apiToken } = parseName<'org' | 'apiToken'>(req.name, 'organizations/{org}/apiTokens/{apiToken}');
      await apiTokens.revoke(tc, apiToken);
      return {};
    },
    async resolveApiToken(req) {
      const found = await apiTokens.resolve(req.token);
      if (!found) throw new NotFoundError('API token');
      return { apiToken: toApiTokenMessage(found.row), organizationSuspended: found.orgSuspended };
    },
    async listSoleOwnerships(req) {
      return { organizations: await userErasure.soleOwnerships(userIdOf(req.user)) };
    },
    async getMembership(req) {
      const { org } = parseName<'org'>(req.organization, 'organizations/{org}', 'organization');
      const user = userIdOf(req.user);
      const membership = await membershipOf(org, user);
      if (!membership) throw new NotFoundError(memberName(org, user));
      return {
        membership: {
          organization: orgName(org),
          user: userName(user),
          role: roleToProto(membership.role),
          member: memberName(org, user),
          organizationSuspended: membership.orgSuspended,
        },
      };
    },
    async exportOrganizationData(req, ic, stream) {
      const tc = exportContext(ic, req.name);
      stream.write({ organization: toOrganizationMessage(await organizations.get(tc)) });
      await forEachPaged(
        stream,
        (pageToken, pageSize) => members.list(tc, { pageToken, pageSize }),
        (member) => stream.write({ member: toMemberMessage(member) }),
      );
    },
  };
}
