/** The time spans of the history plot: the ranges offered, and zooming into a part of one. */

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** The shortest span a zoom gives. */
const MIN_SPAN_MS = 1000;

/** The ranges offered, each ending now. */
export const RANGES = [
  { name: '1h', label: '1 h', ms: HOUR_MS },
  { name: '1d', label: '1 day', ms: DAY_MS },
  { name: '7d', label: '7 days', ms: 7 * DAY_MS },
  { name: '30d', label: '30 days', ms: 30 * DAY_MS },
] as const;

export type RangeName = (typeof RANGES)[number]['name'];

/** [start, end) in milliseconds since the epoch; `live` while it ends now (live values then join). */
export interface TimeSpan {
  start: number;
  end: number;
  live: boolean;
}

/** The range `name` up to `now`. */
export function lastOf(name: RangeName, now = Date.now()): TimeSpan {
  const range = RANGES.find((r) => r.name === name) ?? RANGES[0];
  return { start: now - range.ms, end: now, live: true };
}

/**
 * The part [start, end) of `span` a user selected. A selection that reaches the right edge of a live span
 * stays live: it keeps its length and ends now, so live values go on joining.
 */
export function zoomInto(span: TimeSpan, start: number, end: number, toEdge: boolean, now = Date.now()): TimeSpan {
  const from = Math.max(span.start, Math.min(start, end));
  const length = Math.max(Math.min(span.end, Math.max(start, end)) - from, MIN_SPAN_MS);
  if (span.live && toEdge) {
    return { start: now - Math.max(span.end - from, MIN_SPAN_MS), end: now, live: true };
  }
  return { start: from, end: from + length, live: false };
}

/** `2026-11-27 10:31:46` (UTC, as the hub's timestamps are). */
export function formatTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

/** `1 h 30 min`, `7 d 2 h`, `45 s`: the length of a span, for people. */
export function formatLength(ms: number): string {
  const seconds = Math.round(ms / 1000);
  const parts: [number, string][] = [
    [Math.floor(seconds / 86_400), 'd'],
    [Math.floor((seconds % 86_400) / 3600), 'h'],
    [Math.floor((seconds % 3600) / 60), 'min'],
    [seconds % 60, 's'],
  ];
  const shown = parts.filter(([count]) => count > 0).slice(0, 2);
  return shown.length === 0 ? '0 s' : shown.map(([count, unit]) => `${count} ${unit}`).join(' ');
}
