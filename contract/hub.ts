/* The telemetry hub's Socket.IO contract, generated from hub/messages.py by scripts/contract: do not edit. */

/**
 * Every Socket.IO message, request and ack of the telemetry hub (namespace /).
 */
export interface HubContract {
  CommandAck?: CommandAck;
  CommandRequest?: CommandRequest;
  Confirmation?: Confirmation;
  ConnectAuth?: ConnectAuth;
  DataMessage?: DataMessage;
  ErrorAck?: ErrorAck;
  ErrorBody?: ErrorBody;
  Notification?: Notification;
  SubscribeAck?: SubscribeAck;
  SubscriptionRequest?: SubscriptionRequest;
  UnsubscribeAck?: UnsubscribeAck;
}
/**
 * This interface was referenced by `HubContract`'s JSON-Schema
 * via the `definition` "CommandAck".
 */
export interface CommandAck {
  ok: true;
  command_id: string;
  status: "accepted";
  request_id?: string | null;
  /**
   * The seq of the command's `accepted` confirmation in the log.
   */
  seq: number;
}
/**
 * Payload of `command`. Parameters are checked against the command's template, not here.
 *
 * This interface was referenced by `HubContract`'s JSON-Schema
 * via the `definition` "CommandRequest".
 */
export interface CommandRequest {
  type?: "command";
  command: string;
  parameters?: {
    [k: string]: unknown;
  };
  request_id?: string | null;
}
/**
 * A step of a command's life, sent to every connected client. `parameters` is only in `accepted`.
 *
 * This interface was referenced by `HubContract`'s JSON-Schema
 * via the `definition` "Confirmation".
 */
export interface Confirmation {
  type: "confirmation";
  command_id: string;
  command: string;
  request_id?: string | null;
  status: "accepted" | "executing" | "completed" | "failed" | "timeout";
  message: string;
  parameters?: {
    [k: string]: boolean | number | string;
  } | null;
  timestamp: string;
  seq: number;
}
/**
 * The Socket.IO `auth` object a client may send when it connects.
 *
 * This interface was referenced by `HubContract`'s JSON-Schema
 * via the `definition` "ConnectAuth".
 */
export interface ConnectAuth {
  /**
   * Bearer token with a role.
   */
  token?: string | null;
  /**
   * Resume: no broadcasts until the first subscribe, which replays all missed after it.
   */
  since?: number | null;
}
/**
 * A telemetry value, sent to the clients subscribed to its `id` (room `telemetry:<id>`).
 *
 * This interface was referenced by `HubContract`'s JSON-Schema
 * via the `definition` "DataMessage".
 */
export interface DataMessage {
  type: "data";
  id: string;
  value: boolean | number | string;
  timestamp: string;
  seq: number;
}
/**
 * This interface was referenced by `HubContract`'s JSON-Schema
 * via the `definition` "ErrorAck".
 */
export interface ErrorAck {
  ok: false;
  error: ErrorBody;
}
/**
 * This interface was referenced by `HubContract`'s JSON-Schema
 * via the `definition` "ErrorBody".
 */
export interface ErrorBody {
  code:
    | "bad_request"
    | "unknown_event"
    | "unknown_telemetry_type"
    | "unknown_command"
    | "invalid_parameters"
    | "source_unavailable"
    | "forbidden"
    | "rate_limited"
    | "internal_error"
    | "unauthorized"
    | "too_many_clients"
    | "history_unavailable";
  message: string;
  details?: {
    [k: string]: unknown;
  };
}
/**
 * Something operators should know (limit transitions, source state, late confirmations), sent to all.
 *
 * This interface was referenced by `HubContract`'s JSON-Schema
 * via the `definition` "Notification".
 */
export interface Notification {
  type: "notification";
  level: "info" | "warning" | "critical";
  code: string;
  message: string;
  id?: string | null;
  details?: {
    [k: string]: unknown;
  } | null;
  timestamp: string;
  seq: number;
}
/**
 * This interface was referenced by `HubContract`'s JSON-Schema
 * via the `definition` "SubscribeAck".
 */
export interface SubscribeAck {
  ok: true;
  /**
   * The client's whole subscription set after the call, sorted.
   */
  subscribed: string[];
  /**
   * With `since`: how many messages were replayed.
   */
  replayed?: number | null;
  /**
   * With `since`: false when the gap could not be filled.
   */
  recovered?: boolean | null;
  /**
   * Why the gap could not be filled; reload from the history.
   */
  reason?: string | null;
}
/**
 * Payload of `subscribe` and `unsubscribe`: ids, groups, all, in any combination.
 *
 * This interface was referenced by `HubContract`'s JSON-Schema
 * via the `definition` "SubscriptionRequest".
 */
export interface SubscriptionRequest {
  /**
   * @maxItems 1000
   */
  ids?: string[];
  /**
   * @maxItems 1000
   */
  groups?: string[];
  all?: boolean;
  /**
   * subscribe only: replay what the newly subscribed ids missed after this seq.
   */
  since?: number | null;
}
/**
 * This interface was referenced by `HubContract`'s JSON-Schema
 * via the `definition` "UnsubscribeAck".
 */
export interface UnsubscribeAck {
  ok: true;
  unsubscribed: string[];
  subscribed: string[];
}

/** Events the hub sends: `Socket<ServerToClientEvents, ClientToServerEvents>`. */
export interface ServerToClientEvents {
  data: (message: DataMessage) => void;
  confirmation: (message: Confirmation) => void;
  notification: (message: Notification) => void;
}

/** Events a client sends; every one is acknowledged. */
export interface ClientToServerEvents {
  subscribe: (request: SubscriptionRequest, callback: (ack: SubscribeAck | ErrorAck) => void) => void;
  unsubscribe: (request: SubscriptionRequest, callback: (ack: UnsubscribeAck | ErrorAck) => void) => void;
  command: (request: CommandRequest, callback: (ack: CommandAck | ErrorAck) => void) => void;
}
