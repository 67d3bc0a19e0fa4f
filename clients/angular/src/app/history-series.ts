import type { DataMessage } from '@hub/contract';
import type { TimeSpan } from './history-range';

/** One point of the plot: its time (milliseconds since the epoch) and value. */
export interface PlotPoint {
  time: number;
  value: number;
  seq: number;
}

/**
 * What the history plot shows of one sensor: the points of a `strategy=minmax` answer for `asked`, then the
 * live values appended while the span is live. `span` is the span shown, which moves with the live values.
 */
export interface Series {
  id: string;
  asked: TimeSpan;
  span: TimeSpan;
  /** By time: the answer's points, then the live ones (those at or after `asked.end`). */
  points: readonly PlotPoint[];
  /** How many points the answer held. */
  answered: number;
  /** (end - start) / (size / 2), about the width of minmax's buckets: live values are kept at that resolution. */
  bucketMs: number;
}

/** The series of a minmax answer for `asked` in `size` points (size / 2 buckets): its numbers, by time. */
export function fromAnswer(id: string, asked: TimeSpan, size: number, messages: readonly DataMessage[]): Series {
  const points = messages.flatMap(toPoint).sort((a, b) => a.time - b.time || a.seq - b.seq);
  const bucketMs = (asked.end - asked.start) / Math.max(Math.floor(size / 2), 1);
  return { id, asked, span: asked, points, answered: points.length, bucketMs };
}

/** How many points are shown live, and how many of the answer's were dropped on the left since. */
export function counts(series: Series): { live: number; trimmed: number } {
  const answered = firstLive(series);
  return { live: series.points.length - answered, trimmed: series.answered - answered };
}

/**
 * `series` with a live value appended, when it belongs there: the span is live, the value is of its sensor,
 * newer than the span that was asked (older values are in the answer, downsampled) and than the last point.
 * The span then ends at the value's time, keeping its length, and the points left behind are dropped.
 *
 * As in minmax, a bucket keeps only its lowest and highest live values, and also its newest, so that the
 * line always reaches the latest value: a span left open for days holds about as many points as the answer.
 */
export function appendLive(series: Series, message: DataMessage): Series {
  const [point] = toPoint(message);
  const last = series.points.at(-1);
  if (
    !series.span.live ||
    message.id !== series.id ||
    point === undefined ||
    point.time < series.asked.end ||
    (last !== undefined && (point.time < last.time || point.seq <= last.seq))
  ) {
    return series;
  }
  const end = Math.max(series.span.end, point.time);
  const start = end - (series.span.end - series.span.start);
  const bucket = (p: PlotPoint): number => Math.floor((p.time - series.asked.start) / series.bucketMs);
  const live = firstLive(series);
  let from = series.points.length; // where the live points of the new point's bucket begin
  while (from > live && bucket(series.points[from - 1]) === bucket(point)) {
    from--;
  }
  const points = [...series.points.slice(0, from), ...extremes(series.points.slice(from), point)];
  const kept = points.findIndex((p) => p.time >= start); // the newest point is always kept
  return { ...series, span: { start, end, live: true }, points: points.slice(kept) };
}

/** Of `points` (in one bucket) and `newest`: the lowest, the highest and the newest, by time. */
function extremes(points: readonly PlotPoint[], newest: PlotPoint): PlotPoint[] {
  const all = [...points, newest];
  const low = all.reduce((a, b) => (b.value < a.value ? b : a));
  const high = all.reduce((a, b) => (b.value > a.value ? b : a));
  return all.filter((p) => p === low || p === high || p === newest);
}

/** The index of the first live point (or the number of points, when there is none). */
function firstLive(series: Series): number {
  const index = series.points.findIndex((p) => p.time >= series.asked.end);
  return index < 0 ? series.points.length : index;
}

function toPoint(message: DataMessage): PlotPoint[] {
  const time = Date.parse(message.timestamp);
  return typeof message.value === 'number' && Number.isFinite(time)
    ? [{ time, value: message.value, seq: message.seq }]
    : [];
}
