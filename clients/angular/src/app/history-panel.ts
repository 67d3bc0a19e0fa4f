import { ChangeDetectionStrategy, Component, computed, inject, input, model, signal, viewChild } from '@angular/core';
import { takeUntilDestroyed } from '@angular/core/rxjs-interop';
import { EMPTY, Subject, catchError, filter, finalize, map, switchMap } from 'rxjs';

import type { DataMessage } from '@hub/contract';
import { HubApi, describeError, type TelemetryType } from './hub-api';
import { HistoryPlot, type Selection } from './history-plot';
import { RANGES, formatLength, formatTime, lastOf, zoomInto, type RangeName, type TimeSpan } from './history-range';
import { appendLive, counts, fromAnswer, type Series } from './history-series';
import { TelemetryService } from './telemetry.service';

/** The most points the hub gives per id (`size` of `strategy=minmax`). */
const MAX_SIZE = 10_000;

/** A request for the plot: the sensor and the span. */
interface Ask {
  id: string;
  span: TimeSpan;
}

/**
 * The history of one numeric sensor over a range (1 h to 30 days) or a part of it the user zoomed into:
 * downsampled by the hub to about one point per pixel (`strategy=minmax`), then, while the span ends now,
 * with the live values appended. Which ids the page subscribes to is the dashboard's concern: it is told of
 * the chosen sensor through `sensor` (two-way).
 */
@Component({
  selector: 'app-history-panel',
  changeDetection: ChangeDetectionStrategy.OnPush,
  imports: [HistoryPlot],
  templateUrl: './history-panel.html',
})
export class HistoryPanel {
  /** The sensors offered: numeric ones (minmax needs numbers). */
  readonly types = input.required<readonly TelemetryType[]>();
  /** The sensor plotted. */
  readonly sensor = model<string | null>(null);

  private readonly api = inject(HubApi);
  private readonly telemetry = inject(TelemetryService);
  private readonly plot = viewChild.required(HistoryPlot);

  protected readonly ranges = RANGES;
  protected readonly range = signal<RangeName>('1h');
  /** The span asked for last: a range, or a part of one zoomed into. */
  protected readonly view = signal<TimeSpan>(lastOf('1h'));
  protected readonly zoomed = signal(false);
  protected readonly series = signal<Series | null>(null);
  protected readonly loading = signal(false);
  protected readonly problem = signal<string | null>(null);

  protected readonly span = computed(() => this.series()?.span ?? this.view());
  protected readonly points = computed(() => this.series()?.points ?? []);
  protected readonly counts = computed(() => {
    const series = this.series();
    return series ? { answered: series.answered, ...counts(series) } : null;
  });
  protected readonly name = computed(() => {
    const type = this.types().find((t) => t.id === this.sensor());
    return type ? (type.name ?? type.id) + (type.unit ? ` (${type.unit})` : '') : '';
  });
  protected readonly start = computed(() => formatTime(this.span().start));
  protected readonly end = computed(() => (this.span().live ? 'now' : formatTime(this.span().end)));
  protected readonly length = computed(() => formatLength(this.span().end - this.span().start));

  private readonly asks = new Subject<Ask>();
  /** Live values of the sensor that came while an answer was awaited: they may belong after it. */
  private waiting: DataMessage[] = [];

  constructor() {
    this.asks
      .pipe(
        switchMap((ask) => {
          this.waiting = [];
          this.loading.set(true);
          this.problem.set(null);
          const size = this.size();
          return this.api.extremes(ask.id, ask.span.start, ask.span.end, size).pipe(
            map((messages) => fromAnswer(ask.id, ask.span, size, messages)),
            catchError((error: unknown) => {
              this.series.set(null);
              this.problem.set(`history of ${ask.id}: ${describeError(error)}`);
              return EMPTY;
            }),
            finalize(() => this.loading.set(false)),
          );
        }),
        takeUntilDestroyed(),
      )
      .subscribe((series) => {
        this.series.set(this.waiting.reduce(appendLive, series));
        this.waiting = [];
      });

    this.telemetry.data$.pipe(takeUntilDestroyed()).subscribe((message) => {
      if (this.loading()) {
        if (message.id === this.sensor()) {
          this.waiting.push(message);
        }
        return;
      }
      const series = this.series();
      if (series !== null) {
        this.series.set(appendLive(series, message));
      }
    });

    // a gap the hub could not replay after a reconnect: ask again for what is shown
    this.telemetry.resumed$
      .pipe(
        filter((ack) => ack.recovered === false && this.view().live),
        takeUntilDestroyed(),
      )
      .subscribe(() => {
        const length = this.view().end - this.view().start;
        this.ask({ start: Date.now() - length, end: Date.now(), live: true });
      });
  }

  protected choose(id: string): void {
    this.sensor.set(id || null);
    this.pick(this.range());
  }

  protected pick(range: RangeName): void {
    this.range.set(range);
    this.zoomed.set(false);
    this.ask(lastOf(range));
  }

  protected zoom(selection: Selection): void {
    this.zoomed.set(true);
    this.ask(zoomInto(this.span(), selection.start, selection.end, selection.toEdge));
  }

  private ask(span: TimeSpan): void {
    this.view.set(span);
    const id = this.sensor();
    if (id === null) {
      this.series.set(null);
      return;
    }
    this.asks.next({ id, span });
  }

  /** Points to ask for: one per pixel of the plot's width (two per bucket of minmax). */
  private size(): number {
    const width = Math.round(this.plot().width() / 2) * 2;
    return Math.min(Math.max(width, 2), MAX_SIZE);
  }
}
