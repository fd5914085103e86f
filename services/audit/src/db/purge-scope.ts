/**
 * The session variable through which the retention purge, and nothing else, reaches expired audit events of
 * every org: the RLS policies (migration 0001) let a transaction that sets it see and delete rows older than it.
 */
export const PURGE_BEFORE_SETTING = 'app.audit_purge_before';

export const PURGE_BEFORE_SQL = `nullif(current_setting('${PURGE_BEFORE_SETTING}', true), '')::timestamptz`;
