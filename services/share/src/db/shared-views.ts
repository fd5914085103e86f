import type { EntityManager } from '@mikro-orm/postgresql';
import { SharedPlaceRecord, SharedTaskRecord } from './entities.ts';

/** The fields of a task the shared view shows, plus where it sits and how recent the copy is. */
export interface TaskView {
  taskId: string;
  listId: string;
  title: string;
  description: string;
  status: number;
  priority: number;
  dueTime: Date | null;
  labels: string[];
  updatedAt: Date;
}

/** The read model of shared tasks and the names of their boards and lists, always on an org-bound EntityManager. */
export class SharedViews {
  constructor(private readonly em: EntityManager) {}

  /** Inserts or refreshes a task's copy; a copy newer than `view` is kept. */
  async putTask(orgId: string, boardId: string, view: TaskView): Promise<void> {
    await this.em.execute(
      `insert into shared_tasks (task_id, org_id, board_id, list_id, title, description, status, priority, due_time, labels, task_updated_at)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?)
       on conflict (task_id) do update set list_id = excluded.list_id, title = excluded.title,
         description = excluded.description, status = excluded.status, priority = excluded.priority,
         due_time = excluded.due_time, labels = excluded.labels, task_updated_at = excluded.task_updated_at
       where shared_tasks.task_updated_at <= excluded.task_updated_at`,
      [view.taskId, orgId, boardId, view.listId, view.title, view.description, view.status, view.priority, view.dueTime, JSON.stringify(view.labels), view.updatedAt],
    );
  }

  /** Refreshes a task's copy only when one is kept (the task has links) and is not newer. */
  async refreshTask(view: TaskView): Promise<void> {
    await this.em.execute(
      `update shared_tasks set list_id = ?, title = ?, description = ?, status = ?, priority = ?, due_time = ?,
         labels = ?::jsonb, task_updated_at = ?
       where task_id = ? and task_updated_at <= ?`,
      [view.listId, view.title, view.description, view.status, view.priority, view.dueTime, JSON.stringify(view.labels), view.updatedAt, view.taskId, view.updatedAt],
    );
  }

  async putPlace(orgId: string, place: { id: string; boardId: string; kind: 'board' | 'list'; displayName: string }): Promise<void> {
    await this.em.execute(
      `insert into shared_places (id, org_id, board_id, kind, display_name) values (?, ?, ?, ?, ?)
       on conflict (id) do update set display_name = excluded.display_name`,
      [place.id, orgId, place.boardId, place.kind, place.displayName],
    );
  }

  /** A new list on a board that has shared tasks (so a task moved into it shows its name). */
  async addListIfBoardKept(orgId: string, boardId: string, listId: string, displayName: string): Promise<void> {
    await this.em.execute(
      `insert into shared_places (id, org_id, board_id, kind, display_name)
       select ?, ?, ?, 'list', ? where exists (select 1 from shared_places where id = ? and kind = 'board')
       on conflict (id) do update set display_name = excluded.display_name`,
      [listId, orgId, boardId, displayName, boardId],
    );
  }

  async renamePlace(id: string, displayName: string): Promise<void> {
    await this.em.execute('update shared_places set display_name = ? where id = ?', [displayName, id]);
  }

  /** A deleted task: its links, their codes and its copy go; a tombstone refuses links created after this. */
  async removeTask(orgId: string, taskId: string): Promise<void> {
    const where = 'org_id = ? and task_id = ?';
    await this.em.execute(`delete from share_codes where code_hash in (select code_hash from share_links where ${where})`, [orgId, taskId]);
    await this.em.execute(`delete from share_links where ${where}`, [orgId, taskId]);
    await this.em.execute(`delete from shared_tasks where ${where}`, [orgId, taskId]);
    await this.tombstone(orgId, taskId);
  }

  /** A deleted board: every link, copy and name under it goes. */
  async removeBoard(orgId: string, boardId: string): Promise<void> {
    const where = 'org_id = ? and board_id = ?';
    await this.em.execute(`delete from share_codes where code_hash in (select code_hash from share_links where ${where})`, [orgId, boardId]);
    for (const table of ['share_links', 'shared_tasks', 'shared_places']) await this.em.execute(`delete from ${table} where ${where}`, [orgId, boardId]);
    await this.tombstone(orgId, boardId);
  }

  async removeList(listId: string): Promise<void> {
    await this.em.execute('delete from shared_places where id = ?', [listId]);
  }

  /** A deleted organization: everything of it goes (the rows visible here are that org's only). */
  async removeOrganization(orgId: string): Promise<void> {
    await this.em.execute('delete from share_codes where org_id = ?', [orgId]);
    for (const table of ['share_links', 'shared_tasks', 'shared_places']) await this.em.execute(`delete from ${table} where org_id = ?`, [orgId]);
    await this.tombstone(orgId, orgId);
  }

  /** A platform administrator suspended or reactivated the organization (its links do not open meanwhile). */
  async setSuspended(orgId: string, suspended: boolean): Promise<void> {
    if (suspended) await this.em.execute('insert into suspended_organizations (org_id) values (?) on conflict do nothing', [orgId]);
    else await this.em.execute('delete from suspended_organizations where org_id = ?', [orgId]);
  }

  async isSuspended(orgId: string): Promise<boolean> {
    return (await this.em.execute('select 1 from suspended_organizations where org_id = ?', [orgId])).length > 0;
  }

  async anyRemoved(ids: string[]): Promise<boolean> {
    const rows = await this.em.execute<{ id: string }[]>(`select id from removed_resources where id in (${ids.map(() => '?').join(', ')})`, ids);
    return rows.length > 0;
  }

  task(taskId: string): Promise<SharedTaskRecord | null> {
    return this.em.findOne(SharedTaskRecord, { taskId });
  }

  async names(ids: string[]): Promise<Map<string, string>> {
    const places = await this.em.find(SharedPlaceRecord, { id: { $in: ids } });
    return new Map(places.map((p) => [p.id, p.displayName]));
  }

  private async tombstone(orgId: string, id: string): Promise<void> {
    await this.em.execute('insert into removed_resources (id, org_id) values (?, ?) on conflict do nothing', [id, orgId]);
  }
}
