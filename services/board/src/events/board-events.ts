import type { TenantContext } from '@taskmesh/runtime/org-context';
import { domainEvent, type DomainEvent, type MessageCodec } from '@taskmesh/runtime/outbox';
import { userNameOf } from '../mapping.ts';

/** A board-service domain event about `resource`, made by the caller of `tc`. */
export function boardEvent<T>(tc: TenantContext, type: string, codec: MessageCodec<T>, payload: T, resource: string): DomainEvent {
  return domainEvent(`taskmesh.board.v1.${type}`, codec, payload, {
    resource,
    organization: tc.org.name,
    actor: userNameOf(tc.principal.userId),
  });
}
