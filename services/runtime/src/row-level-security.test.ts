import { describe, expect, it } from 'vitest';
import { CURRENT_ORG_SQL, tenantRowLevelSecuritySql } from './row-level-security.ts';

describe('tenant RLS SQL', () => {
  it('forces RLS and keeps writes to the current org even when reads have an extra scope', () => {
    const sql = tenantRowLevelSecuritySql('boards', { alsoVisibleWhen: 'false' });
    expect(sql).toContain('alter table boards force row level security');
    expect(sql).toContain(`for select using ((org_id = ${CURRENT_ORG_SQL}) or (false))`);
    expect(sql).toContain(`for insert with check (org_id = ${CURRENT_ORG_SQL})`);
    expect(sql).toContain(`for update using (org_id = ${CURRENT_ORG_SQL}) with check (org_id = ${CURRENT_ORG_SQL})`);
    expect(sql).toContain(`for delete using (org_id = ${CURRENT_ORG_SQL})`);
  });

  it('refuses identifiers that are not plain', () => {
    expect(() => tenantRowLevelSecuritySql('boards; drop table x')).toThrow();
  });
});
