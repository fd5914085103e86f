import { Migration } from '@mikro-orm/migrations';
import { APP_ROLE } from '@taskmesh/runtime/database';
import { ORG_SETTING } from '@taskmesh/runtime/tenancy';

/**
 * GetTask's read as a function that enters the org itself, so the task service can call it as ONE named prepared
 * statement (parsed and planned once per connection; PL/pgSQL keeps the inner plan) instead of a four-statement
 * simple-protocol message parsed and planned on every call (one-trip-read.ts).
 *
 * Security invoker: it first makes the rest of the caller's transaction run as the app role (no superuser, no
 * BYPASSRLS) with the org set — both transaction-local, like `set local` — then selects by org AND id, so RLS
 * applies to the select as to every query of the app. Called outside an explicit transaction, the statement is
 * its own transaction and nothing outlives it on the connection. The search path is the service schema's, fixed
 * when the function is made. Columns: task-rows.ts TASK_ROW_COLUMNS, then board_id.
 */
export class ReadTaskFunction extends Migration {
  override name = '0003-read-task-function';

  override up(): void {
    this.addSql(`
      create or replace function read_task_in_org(p_org uuid, p_id uuid)
      returns table (
        o_id uuid, o_list_id uuid, o_position text, o_title text, o_description text, o_status text, o_priority text,
        o_assignees text[], o_labels text[], o_due_ms int8, o_archived boolean, o_creator_id uuid, o_version integer,
        o_created_ms int8, o_updated_ms int8, o_create_request_id text, o_board_id uuid
      )
      language plpgsql volatile security invoker
      set search_path from current
      as $fn$
      begin
        perform set_config('role', '${APP_ROLE}', true);
        perform set_config('${ORG_SETTING}', p_org::text, true);
        return query
          select t.id, t.list_id, t.position, t.title, t.description, t.status, t.priority, t.assignees, t.labels,
            floor(extract(epoch from t.due_time) * 1000)::int8, t.archived, t.creator_id, t.version,
            floor(extract(epoch from t.created_at) * 1000)::int8, floor(extract(epoch from t.updated_at) * 1000)::int8,
            t.create_request_id, t.board_id
          from tasks t where t.org_id = p_org and t.id = p_id;
      end
      $fn$
    `);
  }
}

export const readTaskFunctionMigration = { name: '0003-read-task-function', class: ReadTaskFunction };
