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

/**
 * The session variable through which the KEK rotation (`npm run rotate-kek`), and nothing else, reaches
 * endpoints of every org: its value is the id of the new key-encryption key. The policies of migration 0006
 * let a transaction that sets it see every endpoint and write one only with both sealed secrets under that
 * KEK; a trigger refuses any other change to the row in such a transaction.
 */
export const KEK_RESEAL_SETTING = 'app.webhook_kek_reseal_to';

export const KEK_RESEAL_SQL = `nullif(current_setting('${KEK_RESEAL_SETTING}', true), '')`;
