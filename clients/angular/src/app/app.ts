import { ChangeDetectionStrategy, Component, computed, effect, inject, signal } from '@angular/core';
import { takeUntilDestroyed, toObservable } from '@angular/core/rxjs-interop';
import { filter, merge, take } from 'rxjs';

import type { DataMessage } from '@hub/contract';
import { CommandForm } from './command-form';
import { Feed, type FeedEvent } from './feed';
import { HistoryPanel } from './history-panel';
import { HubApi, type CommandTemplate, type TelemetryType } from './hub-api';
import { HUB_URL } from './hub-url';
import { classify } from './limits';
import { EMPTY_READING, POINTS, addMessages, formatValue, plotted, type Reading } from './readings';
import { Sparkline } from './sparkline';
import { TelemetryService } from './telemetry.service';

/** Feed entries kept on screen. */
const FEED_LENGTH = 50;
/** Where the chosen sensors are remembered, so that a reload shows them again (from the history). */
const STORAGE_KEY = 'telemetry-dashboard.sensors';

/** The dashboard: the sensors by group, live values of the chosen ones, commands, and the event feed. */
@Component({
  selector: 'app-root',
  changeDetection: ChangeDetectionStrategy.OnPush,
  imports: [CommandForm, Feed, HistoryPanel, Sparkline],
  templateUrl: './app.html',
})
export class App {
  private readonly api = inject(HubApi);
  protected readonly telemetry = inject(TelemetryService);
  protected readonly hubUrl = inject(HUB_URL);

  protected readonly types = signal<readonly TelemetryType[]>([]);
  protected readonly templates = signal<readonly CommandTemplate[]>([]);
  protected readonly problem = signal<string | null>(null);
  /** The ids shown, in the order they were chosen. */
  protected readonly chosen = signal<readonly string[]>(storedChoice());
  protected readonly readings = signal<Readonly<Record<string, Reading>>>({});
  protected readonly events = signal<readonly FeedEvent[]>([]);
  /** The sensor of the history plot; subscribed to while plotted, for its live values. */
  protected readonly plotted = signal<string | null>(null);

  protected readonly numericTypes = computed(() =>
    this.types().filter((type) => type.datatype === 'int' || type.datatype === 'float'),
  );

  protected readonly groups = computed(() => {
    const groups = new Map<string, TelemetryType[]>();
    for (const type of this.types()) {
      const group = type.group ?? 'other';
      groups.set(group, [...(groups.get(group) ?? []), type]);
    }
    return [...groups].map(([name, types]) => ({ name, types }));
  });

  protected readonly tiles = computed(() => {
    const types = new Map(this.types().map((type) => [type.id, type]));
    return this.chosen().flatMap((id) => {
      const type = types.get(id);
      if (!type) {
        return [];
      }
      const reading = this.readings()[id] ?? EMPTY_READING;
      const value = reading.latest?.value;
      return [
        {
          type,
          latest: reading.latest,
          text: value === undefined ? '—' : formatValue(value),
          state: classify(type.limits, value),
          line: reading.points.map((m) => plotted(type, m.value)).filter((v): v is number => v !== null),
          limits: describeLimits(type),
        },
      ];
    });
  });

  constructor() {
    // load the catalogue once the hub answers (it may not be up yet when the page opens)
    toObservable(this.telemetry.connected)
      .pipe(filter(Boolean), take(1))
      .subscribe(() => this.load());
    this.telemetry.data$.pipe(takeUntilDestroyed()).subscribe((message) => this.addData(message.id, [message]));
    merge(this.telemetry.confirmations$, this.telemetry.notifications$)
      .pipe(takeUntilDestroyed())
      .subscribe((event) => this.addEvents([event]));
    this.telemetry.resumed$.pipe(takeUntilDestroyed()).subscribe((ack) => {
      if (ack.recovered === false) {
        this.loadHistory(this.chosen()); // the gap could not be replayed: reload what is shown
      }
    });
    this.telemetry.resumeErrors$.pipe(takeUntilDestroyed()).subscribe((error) => this.problem.set(error.message));

    effect(() => localStorage.setItem(STORAGE_KEY, JSON.stringify(this.chosen())));
  }

  private load(): void {
    this.api.telemetryTypes().subscribe({
      next: (types) => {
        this.types.set(types);
        const known = this.chosen().filter((id) => types.some((type) => type.id === id));
        this.chosen.set(known);
        if (known.length > 0) {
          this.watch(known);
        }
      },
      error: (error: Error) => this.problem.set(`cannot load the telemetry types: ${error.message}`),
    });
    this.api.commandTemplates().subscribe({
      next: (templates) => this.templates.set(templates),
      error: (error: Error) => this.problem.set(`cannot load the command templates: ${error.message}`),
    });
    this.api.recentEvents(FEED_LENGTH).subscribe((events) => this.addEvents(events));
  }

  protected isChosen(id: string): boolean {
    return this.chosen().includes(id);
  }

  protected toggle(id: string, on: boolean): void {
    if (on && !this.isChosen(id)) {
      this.chosen.update((ids) => [...ids, id]);
      this.watch([id]);
    } else if (!on && this.isChosen(id)) {
      this.chosen.update((ids) => ids.filter((other) => other !== id));
      this.readings.update(({ [id]: _, ...others }) => others);
      if (id !== this.plotted()) {
        this.telemetry.unsubscribe([id]).subscribe({ error: (error: Error) => this.problem.set(error.message) });
      }
    }
  }

  /** Plot `id`'s history: subscribe to it for its live values, and leave the one plotted before. */
  protected plot(id: string | null): void {
    const before = this.plotted();
    this.plotted.set(id);
    if (id !== null && !this.isChosen(id)) {
      this.telemetry.subscribe([id]).subscribe({ error: (error: Error) => this.problem.set(error.message) });
    }
    if (before !== null && before !== id && !this.isChosen(before)) {
      this.telemetry.unsubscribe([before]).subscribe({ error: (error: Error) => this.problem.set(error.message) });
    }
  }

  /** Subscribe to `ids` and fill their sparklines from the history log; live values join as they come. */
  private watch(ids: readonly string[]): void {
    this.telemetry.subscribe(ids).subscribe({
      error: (error: Error) => {
        this.problem.set(error.message);
        this.chosen.update((chosen) => chosen.filter((id) => !ids.includes(id)));
      },
    });
    this.loadHistory(ids);
  }

  private loadHistory(ids: readonly string[]): void {
    for (const id of ids) {
      this.api.recentData(id, POINTS).subscribe({
        next: (messages) => this.addData(id, messages),
        error: (error: Error) => this.problem.set(`history of ${id}: ${error.message}`),
      });
    }
  }

  private addData(id: string, messages: readonly DataMessage[]): void {
    if (this.isChosen(id)) {
      this.readings.update((readings) => ({ ...readings, [id]: addMessages(readings[id] ?? EMPTY_READING, messages) }));
    }
  }

  /** Newest first, each once (the history and the live stream may both bring one). */
  private addEvents(events: readonly FeedEvent[]): void {
    this.events.update((shown) => {
      const seqs = new Set(shown.map((event) => event.seq));
      const added = events.filter((event) => !seqs.has(event.seq));
      if (added.length === 0) {
        return shown;
      }
      return [...shown, ...added].sort((a, b) => b.seq - a.seq).slice(0, FEED_LENGTH);
    });
  }
}

function storedChoice(): string[] {
  try {
    const stored: unknown = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? '[]');
    return Array.isArray(stored) ? stored.filter((id): id is string => typeof id === 'string') : [];
  } catch {
    return [];
  }
}

function describeLimits(type: TelemetryType): string {
  const { warning, critical } = type.limits ?? {};
  const band = (name: string, b: typeof warning): string =>
    b ? `${name} below ${b.low ?? '—'} or above ${b.high ?? '—'}` : '';
  return [band('warning', warning), band('critical', critical)].filter(Boolean).join('; ');
}
