/**
 * The session variable through which the delivery retention purge, and nothing else, reaches finished
 * deliveries of every org: the RLS policies of migration 0004 let a transaction that sets it see and delete
 * deliveries finished before it, and attempts made before it.
 */
export const DELIVERY_PURGE_BEFORE_SETTING = 'app.webhook_delivery_purge_before';

export const DELIVERY_PURGE_BEFORE_SQL = `nullif(current_setting('${DELIVERY_PURGE_BEFORE_SETTING}', true), '')::timestamptz`;

/** When a delivery finished; deliveries settled before finish_time existed count from their creation. */
export const DELIVERY_FINISHED_AT_SQL = 'coalesce(finish_time, created_at)';

/**
 * The session variable through which the erasure of expired previous signing secrets, and nothing else,
 * reaches endpoints of every org: the RLS policies of migration 0005 let a transaction that sets it see
 * endpoints whose previous secret expired before it, and update them only to erase that secret.
 */
export const SECRET_ERASE_BEFORE_SETTING = 'app.webhook_secret_erase_before';

export const SECRET_ERASE_BEFORE_SQL = `nullif(current_setting('${SECRET_ERASE_BEFORE_SETTING}', true), '')::timestamptz`;
