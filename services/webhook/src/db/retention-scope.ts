/**
 * The session variable through which the delivery retention purge, and nothing else, reaches finished
 * deliveries of every org: the RLS policies of migration 0004 let a transaction that sets it see and delete
 * deliveries finished before it, and attempts made before it.
 */
export const DELIVERY_PURGE_BEFORE_SETTING = 'app.webhook_delivery_purge_before';

export const DELIVERY_PURGE_BEFORE_SQL = `nullif(current_setting('${DELIVERY_PURGE_BEFORE_SETTING}', true), '')::timestamptz`;

/** When a delivery finished; deliveries settled before finish_time existed count from their creation. */
export const DELIVERY_FINISHED_AT_SQL = 'coalesce(finish_time, created_at)';
