import { Migration } from '@mikro-orm/migrations';
import { KEK_RESEAL_SQL } from '../retention-scope.ts';

/**
 * The narrow cross-org scope of the KEK rotation, keyed by its session variable (the new KEK's id): it sees
 * every endpoint (it must read each sealed secret, and PostgreSQL checks an updated row against the select
 * policies too), may write one only with the current secret and any previous one sealed under that KEK, and
 * a trigger refuses any change but the two sealed columns (a policy sees only the new row, not what changed)
 * and refuses creating or dropping a previous secret.
 */
export class KekReseal extends Migration {
  override name = '0006-kek-reseal';

  override up(): void {
    const resealing = `${KEK_RESEAL_SQL} is not null`;
    const underNewKek = (column: string) => `split_part(${column}, '.', 2) = ${KEK_RESEAL_SQL}`;
    this.addSql(`
      create policy webhooks_kek_reseal_select on webhooks for select using (${resealing});
      create policy webhooks_kek_reseal_update on webhooks for update using (${resealing})
        with check (${underNewKek('secret_sealed')} and (previous_secret_sealed is null or ${underNewKek('previous_secret_sealed')}));

      create function webhooks_kek_reseal_only_sealed() returns trigger language plpgsql as $$
      begin
        if (to_jsonb(new) - 'secret_sealed' - 'previous_secret_sealed') is distinct from (to_jsonb(old) - 'secret_sealed' - 'previous_secret_sealed')
           or (new.previous_secret_sealed is null) <> (old.previous_secret_sealed is null) then
          raise exception 'the KEK rotation may only re-seal the signing secrets of a webhook' using errcode = '42501';
        end if;
        return new;
      end $$;
      create trigger webhooks_kek_reseal_only_sealed before update on webhooks
        for each row when (${resealing}) execute function webhooks_kek_reseal_only_sealed();
    `);
  }
}
