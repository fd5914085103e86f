import { PasswordResetRequested, type SessionEndReason, SessionsEnded, UserErased, UserSignedUp } from '@taskmesh/gen/taskmesh/identity/v1/events.js';
import { SESSIONS_ENDED_EVENT } from '@taskmesh/runtime/ended-sessions';
import { domainEvent, type DomainEvent } from '@taskmesh/runtime/outbox';
import { userName } from '../mapping.ts';

// The identity service's domain events; each is about, and made by, one user.

export function userSignedUp(userId: string, email: string, displayName: string): DomainEvent {
  const user = userName(userId);
  return domainEvent('taskmesh.identity.v1.UserSignedUp', UserSignedUp, { user, email, displayName }, { resource: user, actor: user });
}

export function sessionsEnded(userId: string, sessionIds: string[], reason: SessionEndReason, forgetTime: Date): DomainEvent {
  const user = userName(userId);
  return domainEvent(SESSIONS_ENDED_EVENT, SessionsEnded, { user, sessionIds, reason, forgetTime }, { resource: user, actor: user });
}

export function passwordResetRequested(userId: string): DomainEvent {
  const user = userName(userId);
  return domainEvent('taskmesh.identity.v1.PasswordResetRequested', PasswordResetRequested, { user }, { resource: user, actor: user });
}

/** The account was erased; the address travels only as its digest (emailDigest). */
export function userErased(userId: string, emailSha256: string): DomainEvent {
  const user = userName(userId);
  return domainEvent('taskmesh.identity.v1.UserErased', UserErased, { user, emailSha256 }, { resource: user, actor: user });
}
