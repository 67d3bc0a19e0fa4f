import type { Band, Limits } from './hub-api';

/** How a value stands against its telemetry type's limits, as the hub classifies it (hub/alarms.py). */
export type LimitState = 'nominal' | 'warning' | 'critical';

export function classify(limits: Limits | null | undefined, value: unknown): LimitState {
  if (!limits || typeof value !== 'number') {
    return 'nominal';
  }
  if (outside(limits.critical, value)) {
    return 'critical';
  }
  return outside(limits.warning, value) ? 'warning' : 'nominal';
}

function outside(band: Band | null | undefined, value: number): boolean {
  if (!band) {
    return false;
  }
  return (band.low != null && value < band.low) || (band.high != null && value > band.high);
}
