import { Migration } from '@mikro-orm/migrations';

/** Drops 0003's read function (where 0003 made it): task reads go through the runtime's tenant SQL door. */
export class DropReadTaskFunction extends Migration {
  override name = '0004-drop-read-task-function';

  override up(): void {
    this.addSql('drop function if exists read_task_in_org(uuid, uuid)');
  }
}
