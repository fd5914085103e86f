import type { MigrationObject } from '@mikro-orm/core';

/** `0001-initial`, `0002-outbox-trace-context`: four digits, then kebab-case. */
const MIGRATION_NAME = /^(\d{4})-[a-z0-9]+(-[a-z0-9]+)*$/;

/**
 * The one way a service lists its migrations, in `src/db/migrations/index.ts`: each name is its file's name
 * and the id recorded in the schema's mikro_orm_migrations table, so it is never changed once released (a
 * renamed migration would run again). Names must be well formed and in ascending order; a mistake stops the
 * service at start-up instead of reordering a database.
 */
export function migrationList(migrations: Record<string, MigrationObject['class']>): MigrationObject[] {
  const list = Object.entries(migrations).map(([name, migration]) => ({ name, class: migration }));
  list.forEach(({ name }, i) => {
    if (!MIGRATION_NAME.test(name)) throw new Error(`migration name "${name}" must look like 0001-some-change`);
    const previous = list[i - 1]?.name;
    if (previous !== undefined && previous.slice(0, 4) >= name.slice(0, 4)) {
      throw new Error(`migration "${name}" must come after "${previous}" with a higher number`);
    }
  });
  return list;
}
