import { Migration } from '@mikro-orm/migrations';
import { describe, expect, it } from 'vitest';
import { migrationList } from './migrations.ts';

class First extends Migration {
  override up(): void {}
}
class Second extends Migration {
  override up(): void {}
}

describe('migrationList', () => {
  it('lists migrations by name in the order given', () => {
    expect(migrationList({ '0001-initial': First, '0002-outbox-trace-context': Second })).toEqual([
      { name: '0001-initial', class: First },
      { name: '0002-outbox-trace-context', class: Second },
    ]);
  });

  it('refuses names out of order, repeated numbers and malformed names', () => {
    expect(() => migrationList({ '0002-b': Second, '0001-a': First })).toThrow(/must come after "0002-b"/);
    expect(() => migrationList({ '0001-a': First, '0001-b': Second })).toThrow(/higher number/);
    expect(() => migrationList({ initial: First })).toThrow(/must look like 0001-some-change/);
    expect(() => migrationList({ '0001-Initial': First })).toThrow(/must look like/);
  });
});
