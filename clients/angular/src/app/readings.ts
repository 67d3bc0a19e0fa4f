import type { DataMessage } from '@hub/contract';
import type { TelemetryType } from './hub-api';

/** Points kept per sensor for its sparkline. */
export const POINTS = 120;

/** What the dashboard shows of one sensor: its latest message and its recent points, in `seq` order. */
export interface Reading {
  latest: DataMessage | null;
  points: readonly DataMessage[];
}

export const EMPTY_READING: Reading = { latest: null, points: [] };

/** `reading` with `messages` added (history pages and live values alike): by `seq`, once each, the newest POINTS. */
export function addMessages(reading: Reading, messages: readonly DataMessage[]): Reading {
  const last = reading.points.at(-1);
  let points: DataMessage[];
  if (messages.length === 1 && (last === undefined || messages[0].seq > last.seq)) {
    points = [...reading.points, messages[0]]; // the usual case: a live value, newer than all
  } else {
    const bySeq = new Map<number, DataMessage>();
    for (const message of [...reading.points, ...messages]) {
      bySeq.set(message.seq, message);
    }
    points = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  }
  if (points.length > POINTS) {
    points = points.slice(-POINTS);
  }
  return { latest: points.at(-1) ?? null, points };
}

/** A value as a number for the sparkline: numbers as they are, booleans 0/1, enums their index; else null. */
export function plotted(type: TelemetryType, value: DataMessage['value']): number | null {
  if (typeof value === 'number') {
    return value;
  }
  if (typeof value === 'boolean') {
    return value ? 1 : 0;
  }
  const index = type.datatype === 'enum' && type.values ? type.values.indexOf(value) : -1;
  return index >= 0 ? index : null;
}

export function formatValue(value: DataMessage['value']): string {
  if (typeof value === 'number' && !Number.isInteger(value)) {
    return String(Number(value.toFixed(3)));
  }
  return String(value);
}
