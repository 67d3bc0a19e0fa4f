import { ChangeDetectionStrategy, Component, input } from '@angular/core';

import type { Confirmation, Notification } from '@hub/contract';

export type FeedEvent = Confirmation | Notification;

/** Confirmations and notifications, newest first. */
@Component({
  selector: 'app-feed',
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <ol class="feed">
      @for (event of events(); track event.seq) {
        @if (event.type === 'confirmation') {
          <li class="confirmation" [attr.data-seq]="event.seq" [attr.data-status]="event.status" [attr.data-command-id]="event.command_id">
            <time>{{ event.timestamp.slice(11, 23) }}</time>
            <span class="badge status-{{ event.status }}">{{ event.status }}</span>
            <span><b>{{ event.command }}</b> {{ event.message }}</span>
          </li>
        } @else {
          <li class="notification" [attr.data-seq]="event.seq" [attr.data-level]="event.level" [attr.data-code]="event.code">
            <time>{{ event.timestamp.slice(11, 23) }}</time>
            <span class="badge level-{{ event.level }}">{{ event.level }}</span>
            <span>{{ event.message }}</span>
          </li>
        }
      } @empty {
        <li class="empty">No confirmations or notifications yet.</li>
      }
    </ol>
  `,
})
export class Feed {
  readonly events = input.required<readonly FeedEvent[]>();
}
