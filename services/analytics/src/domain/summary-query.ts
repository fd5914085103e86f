import { InvalidArgumentError } from '@taskmesh/runtime/errors';
import { isResourceId } from '@taskmesh/runtime/resource-names';
import { utcDay } from './task-activity.ts';

/** Longest range a summary covers, in UTC days. */
export const MAX_SUMMARY_DAYS = 366;
/** Days covered when no start is given. */
export const DEFAULT_SUMMARY_DAYS = 30;

const DAY_MS = 86_400_000;

export interface SummaryRequest {
  board: string;
  startTime?: Date | undefined;
  endTime?: Date | undefined;
}

/** A validated summary query: whole UTC days, both ends included. */
export interface SummaryQuery {
  orgId: string;
  boardId: string | undefined;
  firstDay: string;
  lastDay: string;
}

const dayStart = (day: string) => Date.parse(`${day}T00:00:00Z`);

/** Every day from firstDay to lastDay, YYYY-MM-DD. */
export function daysOf(query: Pick<SummaryQuery, 'firstDay' | 'lastDay'>): string[] {
  const days: string[] = [];
  for (let t = dayStart(query.firstDay); t <= dayStart(query.lastDay); t += DAY_MS) days.push(utcDay(new Date(t)));
  return days;
}

/** The board filter: organizations/{org}/boards/{board} of this org, or the board id alone. */
function boardIdOf(orgId: string, board: string): string | undefined {
  if (board === '') return undefined;
  const match = /^organizations\/([^/]+)\/boards\/([^/]+)$/.exec(board);
  const [org, id] = match ? [match[1]!, match[2]!] : [orgId, board];
  if (org !== orgId || !isResourceId(id)) {
    throw new InvalidArgumentError({ field: 'board', description: 'must be a board of this organization: organizations/{org}/boards/{board} or its id' });
  }
  return id;
}

export function summaryQueryOf(orgId: string, request: SummaryRequest, now = new Date()): SummaryQuery {
  const end = request.endTime ?? now;
  const lastDay = utcDay(end);
  const start = request.startTime ?? new Date(dayStart(lastDay) - (DEFAULT_SUMMARY_DAYS - 1) * DAY_MS);
  if (end.getTime() < start.getTime()) throw new InvalidArgumentError({ field: 'end_time', description: 'must not be before start_time' });
  const firstDay = utcDay(start);
  const days = (dayStart(lastDay) - dayStart(firstDay)) / DAY_MS + 1;
  if (days > MAX_SUMMARY_DAYS) {
    throw new InvalidArgumentError({ field: 'end_time', description: `the range may cover at most ${MAX_SUMMARY_DAYS} days` });
  }
  return { orgId, boardId: boardIdOf(orgId, request.board), firstDay, lastDay };
}
