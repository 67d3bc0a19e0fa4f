import { ChangeDetectionStrategy, Component, computed, input } from '@angular/core';

/** A small line chart of the last values, as inline SVG; `values` are plotted left (oldest) to right. */
@Component({
  selector: 'app-sparkline',
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <svg
      [attr.viewBox]="'0 0 ' + width + ' ' + height"
      [attr.width]="width"
      [attr.height]="height"
      [attr.data-points]="values().length"
      role="img"
      [attr.aria-label]="label()"
    >
      @if (points(); as line) {
        <polyline [attr.points]="line" />
      }
    </svg>
  `,
  styles: `
    svg {
      display: block;
    }
    polyline {
      fill: none;
      stroke: currentColor;
      stroke-width: 1.5;
      stroke-linejoin: round;
    }
  `,
})
export class Sparkline {
  readonly values = input.required<readonly number[]>();
  readonly label = input('');
  protected readonly width = 160;
  protected readonly height = 36;

  protected readonly points = computed(() => {
    const values = this.values();
    if (values.length < 2) {
      return '';
    }
    let low = Math.min(...values);
    let high = Math.max(...values);
    if (high === low) {
      low -= 1;
      high += 1;
    }
    const pad = 2;
    const dx = (this.width - 2 * pad) / (values.length - 1);
    const scale = (this.height - 2 * pad) / (high - low);
    return values
      .map((value, i) => `${(pad + i * dx).toFixed(1)},${(this.height - pad - (value - low) * scale).toFixed(1)}`)
      .join(' ');
  });
}
