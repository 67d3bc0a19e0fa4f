import {
  ChangeDetectionStrategy,
  Component,
  DestroyRef,
  ElementRef,
  afterNextRender,
  computed,
  inject,
  input,
  output,
  signal,
} from '@angular/core';

import { formatTime, type TimeSpan } from './history-range';
import type { PlotPoint } from './history-series';
import { formatValue } from './readings';

/** A part of the plot's span that the user selected by dragging across it. */
export interface Selection {
  start: number;
  end: number;
  /** Whether it reaches the right edge (the end of the span). */
  toEdge: boolean;
}

const HEIGHT = 240;
/** Room below the plot for the times of its edges. */
const AXIS = 18;
const PLOT_HEIGHT = HEIGHT - AXIS;
const PAD = 8;
/** A drag shorter than this is a click, not a selection. */
const MIN_DRAG_PX = 3;
/** A selection that ends this close to the right edge reaches it. */
const EDGE_PX = 4;

/**
 * A line plot of points over a time span, as inline SVG one unit per pixel, so that a point is drawn for
 * at most every pixel it spans. Dragging across it selects a part of the span (`zoomed`). The element
 * carries what it drew: `data-points`, `data-start` and `data-end` (ISO 8601).
 */
@Component({
  selector: 'app-history-plot',
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <svg
      [attr.viewBox]="'0 0 ' + width() + ' ' + height"
      [attr.height]="height"
      [attr.data-points]="points().length"
      [attr.data-start]="iso(span().start)"
      [attr.data-end]="iso(span().end)"
      role="img"
      [attr.aria-label]="label()"
      (pointerdown)="press($event)"
      (pointermove)="drag($event)"
      (pointerup)="release($event)"
      (pointercancel)="dragged.set(null)"
    >
      <rect class="frame" x="0" y="0" [attr.width]="width()" [attr.height]="plotHeight" />
      @if (scale(); as s) {
        @if (line(); as l) {
          <polyline [attr.points]="l" />
        } @else {
          <circle r="2.5" [attr.cx]="s.x(points()[0].time)" [attr.cy]="s.y(points()[0].value)" />
        }
        <text class="value" x="4" y="14">{{ s.high }}</text>
        <text class="value" x="4" [attr.y]="plotHeight - 4">{{ s.low }}</text>
      }
      <text class="time" x="0" [attr.y]="height - 4">{{ startText() }}</text>
      <text class="time" text-anchor="end" [attr.x]="width()" [attr.y]="height - 4">{{ endText() }}</text>
      @if (band(); as b) {
        <rect class="selection" y="0" [attr.x]="b.x" [attr.width]="b.width" [attr.height]="plotHeight" />
      }
    </svg>
  `,
  styles: `
    :host {
      display: block;
    }
    svg {
      display: block;
      width: 100%;
      cursor: crosshair;
      touch-action: none;
      user-select: none;
    }
    .frame {
      fill: #fafafa;
      stroke: var(--line);
    }
    polyline {
      fill: none;
      stroke: #1d3557;
      stroke-width: 1;
      stroke-linejoin: round;
    }
    circle {
      fill: #1d3557;
    }
    text {
      font-size: 11px;
      fill: var(--muted);
      paint-order: stroke;
      stroke: #fafafa;
      stroke-width: 3px;
    }
    .selection {
      fill: rgba(29, 53, 87, 0.15);
      stroke: #1d3557;
    }
  `,
})
export class HistoryPlot {
  readonly points = input.required<readonly PlotPoint[]>();
  readonly span = input.required<TimeSpan>();
  readonly label = input('');
  /** The part of the span the user selected. */
  readonly zoomed = output<Selection>();

  /** The plot's width in pixels (and SVG units), measured as the page lays it out. */
  readonly width = signal(1000);
  protected readonly height = HEIGHT;
  protected readonly plotHeight = PLOT_HEIGHT;
  /** The drag in progress, in pixels from the left edge. */
  protected readonly dragged = signal<{ from: number; to: number } | null>(null);

  private readonly host = inject<ElementRef<HTMLElement>>(ElementRef);

  constructor() {
    const destroyRef = inject(DestroyRef);
    afterNextRender(() => {
      const observer = new ResizeObserver(([entry]) => {
        const width = Math.round(entry.contentRect.width);
        if (width > 0) {
          this.width.set(width);
        }
      });
      observer.observe(this.host.nativeElement);
      destroyRef.onDestroy(() => observer.disconnect());
    });
  }

  protected readonly scale = computed(() => {
    const points = this.points();
    if (points.length === 0) {
      return null;
    }
    const { start, end } = this.span();
    let low = Math.min(...points.map((p) => p.value));
    let high = Math.max(...points.map((p) => p.value));
    const label = { low: formatValue(low), high: formatValue(high) };
    if (high === low) {
      low -= 1;
      high += 1;
    }
    const dx = this.width() / Math.max(end - start, 1);
    const dy = (PLOT_HEIGHT - 2 * PAD) / (high - low);
    return {
      ...label,
      x: (time: number) => ((time - start) * dx).toFixed(1),
      y: (value: number) => (PLOT_HEIGHT - PAD - (value - low) * dy).toFixed(1),
    };
  });

  protected readonly line = computed(() => {
    const scale = this.scale();
    const points = this.points();
    return scale && points.length > 1 ? points.map((p) => `${scale.x(p.time)},${scale.y(p.value)}`).join(' ') : '';
  });

  protected readonly startText = computed(() => formatTime(this.span().start));
  protected readonly endText = computed(() => (this.span().live ? 'now' : formatTime(this.span().end)));

  protected readonly band = computed(() => {
    const dragged = this.dragged();
    if (dragged === null) {
      return null;
    }
    return { x: Math.min(dragged.from, dragged.to), width: Math.abs(dragged.to - dragged.from) };
  });

  protected iso(ms: number): string {
    return new Date(ms).toISOString();
  }

  protected press(event: PointerEvent): void {
    if (event.button !== 0) {
      return;
    }
    const x = this.offset(event);
    this.dragged.set({ from: x, to: x });
    (event.currentTarget as Element).setPointerCapture(event.pointerId); // follow the drag past the edges
  }

  protected drag(event: PointerEvent): void {
    const dragged = this.dragged();
    if (dragged !== null) {
      this.dragged.set({ ...dragged, to: this.offset(event) });
    }
  }

  protected release(event: PointerEvent): void {
    const dragged = this.dragged();
    this.dragged.set(null);
    if (dragged === null) {
      return;
    }
    const from = Math.min(dragged.from, this.offset(event));
    const to = Math.max(dragged.from, this.offset(event));
    if (to - from < MIN_DRAG_PX) {
      return;
    }
    const { start, end } = this.span();
    const time = (x: number): number => start + (x / this.width()) * (end - start);
    this.zoomed.emit({ start: time(from), end: time(to), toEdge: to >= this.width() - EDGE_PX });
  }

  /** Where the pointer is, in pixels from the left edge, within the plot. */
  private offset(event: PointerEvent): number {
    const box = (event.currentTarget as Element).getBoundingClientRect();
    const x = ((event.clientX - box.left) / Math.max(box.width, 1)) * this.width();
    return Math.min(Math.max(x, 0), this.width());
  }
}
