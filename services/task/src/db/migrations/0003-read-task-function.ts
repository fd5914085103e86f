import { Migration } from '@mikro-orm/migrations';

/**
 * Superseded: this migration made a PL/pgSQL read function that entered the org itself. Reads now go through
 * the runtime's tenant SQL door, and 0004 drops the function from databases that have it. Kept, empty, so the
 * migration history of existing databases stays valid; a new database never gets the function.
 */
export class ReadTaskFunction extends Migration {
  override name = '0003-read-task-function';

  override up(): void {}
}
