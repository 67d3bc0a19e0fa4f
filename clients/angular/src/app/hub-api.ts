import { HttpClient, HttpErrorResponse, HttpParams } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { Observable, map } from 'rxjs';

import type { Confirmation, DataMessage, Notification } from '@hub/contract';
import { HUB_URL } from './hub-url';

// The HTTP answers' shapes (hub/templates.py); the Socket.IO messages come from the generated contract.

export type Datatype = 'float' | 'int' | 'bool' | 'string' | 'enum';
export type Value = DataMessage['value'];

/** Values below `low` or above `high` are out of the band (either bound may be absent). */
export interface Band {
  low?: number | null;
  high?: number | null;
}

export interface Limits {
  warning?: Band | null;
  critical?: Band | null;
}

export interface TelemetryType {
  id: string;
  name?: string | null;
  description?: string | null;
  group?: string | null;
  unit?: string | null;
  datatype: Datatype;
  values?: string[] | null;
  min?: number | null;
  max?: number | null;
  limits?: Limits | null;
  rate_hz: number;
}

export interface CommandParameter {
  name: string;
  type: Datatype;
  required?: boolean;
  default?: Value | null;
  min?: number | null;
  max?: number | null;
  values?: string[] | null;
  description?: string | null;
}

export interface CommandTemplate {
  command: string;
  description?: string | null;
  parameters: CommandParameter[];
  timeout_s: number;
}

export type LoggedMessage = DataMessage | Confirmation | Notification;

interface HistoryPage {
  items: LoggedMessage[];
  next: string | null;
}

/** The body of every 4xx and 5xx answer (hub/web/problems.py). */
interface Problem {
  code: string;
  message: string;
}

/** The hub's HTTP API: the templates and the history log. */
@Injectable({ providedIn: 'root' })
export class HubApi {
  private readonly http = inject(HttpClient);
  private readonly url = inject(HUB_URL);

  telemetryTypes(): Observable<TelemetryType[]> {
    return this.http.get<TelemetryType[]>(`${this.url}/telemetry-types`);
  }

  commandTemplates(): Observable<CommandTemplate[]> {
    return this.http.get<CommandTemplate[]>(`${this.url}/command-templates`);
  }

  /** The newest `limit` data messages of `id`, oldest first. */
  recentData(id: string, limit: number): Observable<DataMessage[]> {
    const params = new HttpParams({ fromObject: { ids: id, type: 'data', order: 'desc', limit } });
    return this.http
      .get<HistoryPage>(`${this.url}/historical-data`, { params })
      .pipe(map((page) => (page.items as DataMessage[]).reverse()));
  }

  /**
   * About `size` data messages of `id` in [start, end): its lowest and highest value in each of about size / 2
   * buckets of the span (`strategy=minmax`), in `seq` order, so that a line through them keeps every spike.
   */
  extremes(id: string, start: number, end: number, size: number): Observable<DataMessage[]> {
    const params = new HttpParams({
      fromObject: {
        ids: id,
        start: new Date(start).toISOString(),
        end: new Date(end).toISOString(),
        strategy: 'minmax',
        size,
      },
    });
    return this.http
      .get<HistoryPage>(`${this.url}/historical-data`, { params })
      .pipe(map((page) => page.items as DataMessage[]));
  }

  /** The newest `limit` confirmations and notifications, oldest first. */
  recentEvents(limit: number): Observable<(Confirmation | Notification)[]> {
    const params = new HttpParams({ fromObject: { type: 'confirmation,notification', order: 'desc', limit } });
    return this.http
      .get<HistoryPage>(`${this.url}/historical-data`, { params })
      .pipe(map((page) => (page.items as (Confirmation | Notification)[]).reverse()));
  }
}

/** A failed request in the hub's words: `422 bad_request: size: must be from 1 to 10,000`. */
export function describeError(error: unknown): string {
  if (!(error instanceof HttpErrorResponse)) {
    return error instanceof Error ? error.message : String(error);
  }
  if (error.status === 0) {
    return `no answer from the hub${error.url ? ` at ${new URL(error.url).origin}` : ''}`;
  }
  const body: unknown = error.error;
  if (typeof body === 'object' && body !== null && 'code' in body && 'message' in body) {
    const problem = body as Problem;
    return `${error.status} ${problem.code}: ${problem.message}`;
  }
  return `${error.status} ${error.statusText}`;
}
