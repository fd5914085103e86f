/** Transaction setting under which the rollup job may list every org's rollup_state row (never other tables). */
export const ROLLUP_SCAN_SETTING = 'app.analytics_rollup_scan';
export const ROLLUP_SCAN_SQL = `current_setting('${ROLLUP_SCAN_SETTING}', true) = 'on'`;
