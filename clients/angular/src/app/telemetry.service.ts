import { Injectable, inject, signal } from '@angular/core';
import { Socket } from 'ngx-socket-io';
import { Observable, Subject, catchError, defer, filter, from, map, throwError, timeout } from 'rxjs';

import type {
  ClientToServerEvents,
  CommandAck,
  CommandRequest,
  Confirmation,
  ConnectAuth,
  DataMessage,
  ErrorAck,
  ErrorBody,
  Notification,
  ServerToClientEvents,
  SubscribeAck,
  SubscriptionRequest,
  UnsubscribeAck,
} from '@hub/contract';

/** The ngx-socket-io socket, typed with the hub's event maps. */
type HubSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** An `{ok: false}` ack, as an Observable error. */
export class HubError extends Error {
  constructor(
    readonly code: ErrorBody['code'] | 'no_ack',
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'HubError';
  }
}

/** What `command()` emits: the ack first, then each confirmation of that command. */
export type CommandEvent = CommandAck | Confirmation;

export function isConfirmation(event: CommandEvent): event is Confirmation {
  return 'type' in event && event.type === 'confirmation';
}

const TERMINAL: ReadonlySet<Confirmation['status']> = new Set(['completed', 'failed', 'timeout']);

/** How long to wait for an ack before the call fails (the connection may be down). */
const ACK_TIMEOUT_MS = 10_000;

let requestCounter = 0;

/**
 * The hub's Socket.IO stream: subscriptions, commands, confirmations and notifications.
 *
 * It remembers the highest `seq` received and the ids subscribed to, and on every reconnect (a network drop,
 * a hub restart) it connects with `auth: {since}` and subscribes again with `since`, so the hub replays what
 * was missed. Messages already seen are dropped, so nothing is missed or shown twice.
 */
@Injectable({ providedIn: 'root' })
export class TelemetryService {
  private readonly socket = inject(Socket) as unknown as HubSocket;

  /** True while the socket is connected. */
  readonly connected = signal(false);
  /** The last connection error, cleared on connect. */
  readonly connectionError = signal<string | null>(null);
  /** The highest `seq` received: where a resume starts. */
  readonly lastSeq = signal<number | null>(null);

  /** Ids this client wants; subscribed again after every reconnect. */
  private readonly wanted = new Set<string>();
  /** The highest `seq` seen per stream (`data:<id>`, `confirmation`, `notification`). */
  private readonly seen = new Map<string, number>();
  private connectedBefore = false;

  private readonly data = new Subject<DataMessage>();
  private readonly confirmationSubject = new Subject<Confirmation>();
  private readonly notificationSubject = new Subject<Notification>();
  private readonly resumes = new Subject<SubscribeAck>();
  private readonly resumeErrors = new Subject<HubError>();

  /** Every data message of the subscribed ids, each once. */
  readonly data$ = this.data.asObservable();
  /** Every command's confirmations (they go to every client), each once. */
  readonly confirmations$ = this.confirmationSubject.asObservable();
  /** Every notification, each once. */
  readonly notifications$ = this.notificationSubject.asObservable();
  /** The ack of each resubscription after a reconnect; `recovered: false` means reload from the history. */
  readonly resumed$ = this.resumes.asObservable();
  /** A resubscription after a reconnect that failed. */
  readonly resumeErrors$ = this.resumeErrors.asObservable();

  constructor() {
    // evaluated on every (re)connection: the hub sends nothing until the next subscribe, which replays
    this.socket.auth = (send: (auth: ConnectAuth) => void) => {
      const since = this.lastSeq();
      send(since === null ? {} : { since });
    };
    this.socket.on('connect', () => {
      this.connected.set(true);
      this.connectionError.set(null);
      if (this.connectedBefore) {
        this.resubscribe();
      }
      this.connectedBefore = true;
    });
    this.socket.on('disconnect', () => this.connected.set(false));
    this.socket.on('connect_error', (error: Error) => this.connectionError.set(error.message));

    this.socket
      .fromEvent('data')
      .subscribe((message: DataMessage) => this.deliver(`data:${message.id}`, message, this.data));
    this.socket
      .fromEvent('confirmation')
      .subscribe((message: Confirmation) => this.deliver('confirmation', message, this.confirmationSubject));
    this.socket
      .fromEvent('notification')
      .subscribe((message: Notification) => this.deliver('notification', message, this.notificationSubject));
    this.socket.connect();
  }

  /** Subscribe to `ids`; emits the ack (the whole subscription set) and completes. */
  subscribe(ids: readonly string[]): Observable<SubscribeAck> {
    return defer(() => {
      const added = ids.filter((id) => !this.wanted.has(id));
      added.forEach((id) => this.wanted.add(id));
      const request: SubscriptionRequest = { ids: [...ids] };
      return this.call(this.socket.emitWithAck('subscribe', request)).pipe(
        map((ack) => {
          if (!ack.ok) {
            added.forEach((id) => this.wanted.delete(id)); // the hub changed nothing
            throw toError(ack);
          }
          return ack;
        }),
      );
    });
  }

  /** Unsubscribe from `ids`; emits the ack and completes. */
  unsubscribe(ids: readonly string[]): Observable<UnsubscribeAck> {
    return defer(() => {
      ids.forEach((id) => {
        this.wanted.delete(id);
        this.seen.delete(`data:${id}`); // a later subscribe shows the latest value again
      });
      const request: SubscriptionRequest = { ids: [...ids] };
      return this.call(this.socket.emitWithAck('unsubscribe', request)).pipe(map(unwrap));
    });
  }

  /** The data messages of `ids` (subscribe to them with `subscribe`). */
  valuesOf(ids: readonly string[]): Observable<DataMessage> {
    const wanted = new Set(ids);
    return this.data$.pipe(filter((message) => wanted.has(message.id)));
  }

  /**
   * Send a command. Emits the ack, then each confirmation of that command (matched by `command_id`), and
   * completes with the terminal one (`completed`, `failed` or `timeout`). A refusal (`ok: false`) is a
   * HubError with the hub's code (`invalid_parameters`, `unknown_command`, `rate_limited`, ...).
   */
  command(command: string, parameters: Record<string, unknown> = {}): Observable<CommandEvent> {
    return new Observable<CommandEvent>((subscriber) => {
      const requestId = `ui-${Date.now().toString(36)}-${++requestCounter}`;
      // the `accepted` confirmation usually arrives just before the ack: keep what comes before it
      const early: Confirmation[] = [];
      let commandId: string | null = null;
      const forward = (confirmation: Confirmation): void => {
        subscriber.next(confirmation);
        if (TERMINAL.has(confirmation.status)) {
          subscriber.complete();
        }
      };
      const confirmations = this.confirmations$.subscribe((confirmation) => {
        if (commandId === null) {
          if (confirmation.request_id === requestId) {
            early.push(confirmation);
          }
        } else if (confirmation.command_id === commandId) {
          forward(confirmation);
        }
      });
      const request: CommandRequest = { type: 'command', command, parameters, request_id: requestId };
      const ack = this.call(this.socket.emitWithAck('command', request)).subscribe({
        next: (answer) => {
          if (!answer.ok) {
            subscriber.error(toError(answer));
            return;
          }
          commandId = answer.command_id;
          subscriber.next(answer);
          for (const confirmation of early) {
            if (confirmation.command_id === commandId && !subscriber.closed) {
              forward(confirmation);
            }
          }
        },
        error: (error: unknown) => subscriber.error(error),
      });
      return () => {
        confirmations.unsubscribe();
        ack.unsubscribe();
      };
    });
  }

  /** After a reconnect: the same ids again, replaying everything after the last seq received. */
  private resubscribe(): void {
    const since = this.lastSeq();
    const request: SubscriptionRequest = { ids: [...this.wanted] };
    if (since !== null) {
      request.since = since;
    }
    this.call(this.socket.emitWithAck('subscribe', request)).subscribe({
      next: (ack) => (ack.ok ? this.resumes.next(ack) : this.resumeErrors.next(toError(ack))),
      error: (error: HubError) => this.resumeErrors.next(error),
    });
  }

  /**
   * Pass on a message unless it was already seen. Each stream arrives in increasing `seq`; the only older
   * message is the latest value a subscribe sends for an id just added, hence one high-water mark per stream.
   */
  private deliver<M extends { seq: number }>(stream: string, message: M, to: Subject<M>): void {
    const seen = this.seen.get(stream);
    if (seen !== undefined && message.seq <= seen) {
      return;
    }
    this.seen.set(stream, message.seq);
    const last = this.lastSeq();
    if (last === null || message.seq > last) {
      this.lastSeq.set(message.seq);
    }
    to.next(message);
  }

  /** The ack as an Observable; no answer in time, or a connection lost before it, is a HubError `no_ack`. */
  private call<A>(ack: Promise<A>): Observable<A> {
    return from(ack).pipe(
      timeout(ACK_TIMEOUT_MS),
      catchError((error: unknown) =>
        throwError(() =>
          error instanceof HubError
            ? error
            : new HubError('no_ack', `no answer from the hub: ${error instanceof Error ? error.message : error}`),
        ),
      ),
    );
  }
}

function toError(ack: ErrorAck): HubError {
  return new HubError(ack.error.code, ack.error.message, ack.error.details);
}

function unwrap<A extends { ok: true }>(ack: A | ErrorAck): A {
  if (!ack.ok) {
    throw toError(ack);
  }
  return ack;
}
