// The contract between the rule engine and one kind of rule action (a sink).
//
// The engine matches a publish against each rule's topic filter and condition, writes the match to
// the rule's outbox in SQLite in the same event that accepts the publish (before PUBACK), and later
// drains the outbox in batches, calling the action's `deliver`. A batch either succeeds as a whole or
// throws; a throw retries the whole batch with backoff, and after the rule's tries the batch's
// messages go to the dead-letter store. An action therefore must tolerate a batch delivered twice
// (at least once for QoS 1/2 input).
//
// One file per action kind under src/rules/actions/, each exporting one `ActionKind`.

/** One matched message as an action receives it. */
export interface RuleMessage {
  /** The rule's outbox sequence number: increasing per rule, so per publisher in publish order. */
  seq: number;
  topic: string;
  /** The payload as published (bytes). */
  payload: Uint8Array;
  /** The rule's projection of the payload (the parsed JSON payload when the rule has none); undefined when the payload is not JSON. */
  value: unknown;
  qos: 0 | 1 | 2;
  retain: boolean;
  /** The publisher's client id; undefined for a publish by the HTTP API or a Worker over RPC. */
  clientId?: string;
  /** The publisher's identity (user name or token subject), when it has one. */
  username?: string;
  /** When the broker accepted the publish, ms since the epoch. */
  receivedAt: number;
  /** v5 properties a sink may use, when the publisher set them. */
  contentType?: string;
  userProperties?: [string, string][];
}

/** What an action may reach while it delivers: the Worker's bindings and the broker's own publish. */
export interface ActionContext {
  /** The Worker's env: bindings named by the action's configuration are looked up here. */
  env: Record<string, unknown>;
  /** The rule's name, for headers, keys and log lines. */
  rule: string;
  /**
   * Publishes into this broker's namespace (for the republish action): resolves once accepted;
   * rejects (0x97) while a matching rule's outbox is full. `userProperties` (optional, added for
   * the republish action's loop marker) travel as v5 user properties.
   */
  publish(topic: string, payload: Uint8Array, options: { qos: 0 | 1 | 2; retain: boolean; userProperties?: [string, string][] }): Promise<void>;
  /** fetch, for actions that call out (a test may give its own). */
  fetch: typeof fetch;
}

/** Bounds on one deliver() call, so a batch stays within the platform's limits. */
export interface BatchLimits {
  /** Most messages per call. */
  count: number;
  /** Most payload bytes per call (sum of payload lengths). */
  bytes: number;
}

/** One kind of action: its configuration's check and its delivery. */
export interface ActionKind<Config = unknown> {
  /** The name used in a rule's configuration: `{ "action": { "kind": "<kind>", ... } }`. */
  kind: string;
  /**
   * Checks one rule's action configuration (the object under `action`, `kind` included) and
   * returns it typed. Throws an Error whose message names the field and what is wrong.
   * `env` is given so a binding's presence can be checked at start.
   */
  parse(config: Record<string, unknown>, env: Record<string, unknown>): Config;
  /** Bounds for one deliver() call with this configuration. */
  limits(config: Config): BatchLimits;
  /**
   * Optional: how long the engine should let the outbox fill before draining, in ms (0: now).
   * `oldest` is the receivedAt of the oldest undelivered message; `pending` what waits in total.
   * An archive (R2) waits for its time window to close or its size threshold, so one object holds
   * a window's messages instead of one object per drain. Without it the engine drains at once.
   */
  hold?(config: Config, oldest: number, pending: { count: number; bytes: number }, now: number): number;
  /** Delivers one batch, in seq order. Throws to have the whole batch retried. */
  deliver(config: Config, batch: RuleMessage[], context: ActionContext): Promise<void>;
}
