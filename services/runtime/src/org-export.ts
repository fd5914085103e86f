import type { ServerStream } from './grpc-server.ts';
import type { InternalContext, TenantContext } from './org-context.ts';
import { MAX_PAGE_SIZE } from './paging.ts';
import { parseName } from './resource-names.ts';
import { forkForOrg } from './tenancy.ts';

/**
 * The owning side of an organization export (each service's internal ExportOrganizationData stream): the
 * organization named by the request and a tenant context bound to it (tenant filter + RLS), so the stream
 * reads through the same use cases as the list RPCs. The caller is the export worker (internal trust, like
 * GetMembership): no end user, so the principal is empty and the role OWNER (an export reads everything).
 */
export function exportContext(context: InternalContext, name: string): TenantContext {
  const { org } = parseName<'org'>(name, 'organizations/{org}', 'name');
  return {
    principal: { userId: '', sessionId: '', tokenId: '' },
    org: { id: org, name: `organizations/${org}` },
    role: 'OWNER',
    em: forkForOrg(context.em, org),
    call: context.call,
  };
}

/**
 * Walks a paged read to its end, one page (one short read) at a time, so no transaction stays open while the
 * records are streamed, and the next page is read only once `stream` took the last one (memory stays bounded
 * by a page, whatever the organization's size). `page` gets the previous page's token ('' first).
 */
export async function forEachPaged<T>(
  stream: Pick<ServerStream<unknown>, 'writable'>,
  page: (pageToken: string, pageSize: number) => Promise<{ items: readonly T[]; nextPageToken: string }>,
  each: (item: T) => void | Promise<void>,
): Promise<void> {
  let token = '';
  do {
    const result = await page(token, MAX_PAGE_SIZE);
    for (const item of result.items) await each(item);
    await stream.writable();
    token = result.nextPageToken;
  } while (token);
}
