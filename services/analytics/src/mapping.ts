import type { Duration } from '@taskmesh/gen/google/protobuf/duration.js';
import type { DailyTaskCounts, SummarizeAnalyticsResponse } from '@taskmesh/gen/taskmesh/analytics/v1/analytics_service.js';
import type { DayRecord, SummaryRecord } from './db/summary-store.ts';

// The analytics service's one mapping: summary records to the messages of its API.

function durationOf(seconds: number | null): Duration | undefined {
  if (seconds === null) return undefined;
  // Millisecond precision, as the events' times have.
  const millis = Math.round(seconds * 1000);
  return { seconds: String(Math.floor(millis / 1000)), nanos: (millis % 1000) * 1_000_000 };
}

const countsOf = (day: DayRecord): DailyTaskCounts => ({
  date: day.day,
  tasksCreated: day.tasksCreated,
  tasksCompleted: day.tasksCompleted,
  tasksReopened: day.tasksReopened,
  tasksMoved: day.tasksMoved,
  overdue: day.overdue,
  shareLinkOpens: day.shareLinkOpens,
});

/** One entry per day of `days` (zero where nothing happened), the totals, cycle time and assignees. */
export function toSummaryResponse(days: readonly string[], record: SummaryRecord): SummarizeAnalyticsResponse {
  const series = days.map((day) =>
    countsOf(record.days.get(day) ?? { day, tasksCreated: 0, tasksCompleted: 0, tasksReopened: 0, tasksMoved: 0, shareLinkOpens: 0, overdue: 0 }),
  );
  const totals: DailyTaskCounts = { date: '', tasksCreated: 0, tasksCompleted: 0, tasksReopened: 0, tasksMoved: 0, overdue: 0, shareLinkOpens: 0 };
  for (const day of series) {
    totals.tasksCreated += day.tasksCreated;
    totals.tasksCompleted += day.tasksCompleted;
    totals.tasksReopened += day.tasksReopened;
    totals.tasksMoved += day.tasksMoved;
    totals.overdue += day.overdue;
    totals.shareLinkOpens += day.shareLinkOpens;
  }
  return {
    days: series,
    totals,
    cycleTime: {
      p50: durationOf(record.cycleTime.p50Seconds),
      p90: durationOf(record.cycleTime.p90Seconds),
      completions: record.cycleTime.completions,
    },
    assignees: record.assignees.map((a) => ({ assignee: a.assignee, tasksCompleted: a.tasksCompleted })),
  };
}
