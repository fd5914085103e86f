/**
 * The session variable through which the pending-attachment reaper, and nothing else, lists stale pending
 * attachments of every org: the read-only RLS policy of migration 0004 shows PENDING rows created before it.
 * Deleting them still takes a transaction bound to their org.
 */
export const REAP_BEFORE_SETTING = 'app.attachment_reap_before';

export const REAP_BEFORE_SQL = `nullif(current_setting('${REAP_BEFORE_SETTING}', true), '')::timestamptz`;
