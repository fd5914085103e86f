/**
 * The session variable through which the retention purge, and nothing else, reaches expired audit events of
 * every org: the RLS policies (migration 0001) let a transaction that sets it see and delete rows older than it.
 */
export const PURGE_BEFORE_SETTING = 'app.audit_purge_before';

export const PURGE_BEFORE_SQL = `nullif(current_setting('${PURGE_BEFORE_SETTING}', true), '')::timestamptz`;

/** The session variable through which account erasure reaches the entries carrying the erased address (migration 0002). */
export const ERASED_EMAIL_SHA256_SETTING = 'app.erased_email_sha256';
