import { Migration } from '@mikro-orm/migrations';

/** Task.start_time: when work on a task is planned to start (optional, like due_time). */
export class TaskStartTime extends Migration {
  override name = '0005-task-start-time';

  override up(): void {
    this.addSql('alter table tasks add column if not exists start_time timestamptz null');
  }
}
