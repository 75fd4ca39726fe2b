// RPC sessions between a sharded namespace's objects. Every RPC method call on a stub is its own
// session and a billed request; calls on an RpcTarget a call returned ride its session unbilled
// (https://developers.cloudflare.com/durable-objects/platform/pricing/, footnote 1). A caller
// opens one session per target (`open`) and keeps it while in use; the target is held in memory
// meanwhile, its whole time billed (Meter.held), so a session idle for `idleMs` is closed.
import { RpcTarget } from 'cloudflare:workers';
import type { GatewayCalls, SessionCalls, ShardCalls } from '../broker/fabric-core.ts';
import type { OutboundMessage, StoredSubscription } from '../broker/index.ts';
import type { PackedMessages, PackedRouted } from '../broker/packed.ts';
import type { SessionExport } from '../broker/remote.ts';
import { prices, objectGb } from './billing.ts';

/** ms an object in memory costs what one request costs: 0.15 / (0.125 GB × 12.5) s, about 96 ms. */
export const idleMs = Math.round((prices.request / (objectGb * prices.gbSecond)) * 1000);

/** One open session: its stub once opened, calls on it not yet settled, when it was last used, its idle timer. */
interface Open<T> {
  target: Promise<{ stub: T }>;
  calls: number;
  used: number;
  idle?: ReturnType<typeof setTimeout>;
}

/** A caller's sessions, one per target index, opened on first use and closed when idle. */
export class Sessions<T extends object> {
  private readonly open = new Map<number, Open<T>>();
  private readonly connect: (index: number) => Promise<T>;
  private readonly timeout: number;

  /** `connect` opens a session (one billed call); `timeout`: ms an opening may take. */
  constructor(connect: (index: number) => Promise<T>, timeout: number) {
    this.connect = connect;
    this.timeout = timeout;
  }

  /**
   * Makes a call on the target's session. A call that fails retires its session (a broken session
   * fails every call after it): the next call opens another. Calls made in order reach the target
   * in order (E-order within a session), as calls on one stub do.
   */
  async call<R>(index: number, invoke: (stub: T) => Promise<R>): Promise<R> {
    const open = this.open.get(index) ?? this.start(index);
    open.calls++;
    try {
      const value = await invoke((await open.target).stub);
      this.settled(index, open, false);
      return value;
    } catch (err) {
      this.settled(index, open, true);
      throw err;
    }
  }

  private start(index: number): Open<T> {
    let timer: ReturnType<typeof setTimeout> | null = null;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`RPC session to #${index} not opened in ${this.timeout} ms`)), this.timeout)));
    const target = Promise.race([this.connect(index).then((stub) => ({ stub })), late]).finally(() => clearTimeout(timer));
    const open: Open<T> = { target, calls: 0, used: Date.now() };
    this.open.set(index, open);
    return open;
  }

  private settled(index: number, open: Open<T>, failed: boolean): void {
    if (failed && this.open.get(index) === open) this.open.delete(index);
    open.used = Date.now();
    if (--open.calls > 0) return;
    if (this.open.get(index) !== open) return close(open);
    // one timer per idle spell, not one per call: it looks again when it fires
    open.idle ??= setTimeout(() => this.expire(index, open), idleMs);
  }

  private expire(index: number, open: Open<T>): void {
    open.idle = undefined;
    if (this.open.get(index) !== open) return;
    const idle = Date.now() - open.used;
    if (open.calls > 0 || idle < idleMs) return void (open.idle = setTimeout(() => this.expire(index, open), idleMs - (open.calls > 0 ? 0 : idle)));
    this.open.delete(index);
    close(open);
  }
}

function close<T extends object>(open: Open<T>): void {
  void open.target.then(({ stub }) => {
    try {
      (stub as Partial<Disposable>)[Symbol.dispose]?.();
    } catch {
      // broken already: nothing is held
    }
  }, () => undefined);
}

/** What a session's target tells its object: it was opened, and then closed (or lost). */
export interface Hold {
  released(): void;
}

export class ShardSession extends RpcTarget implements ShardCalls {
  readonly #calls: ShardCalls;
  readonly #hold: Hold;

  constructor(calls: ShardCalls, hold: Hold) {
    super();
    [this.#calls, this.#hold] = [calls, hold];
  }

  publish(messages: PackedMessages, from: number | null) {
    return this.#calls.publish(messages, from);
  }

  subscribe(clientId: string, gateway: number | null, subscriptions: StoredSubscription[], retained: boolean[]) {
    return this.#calls.subscribe(clientId, gateway, subscriptions, retained);
  }

  unsubscribe(clientId: string, topicFilters: string[]) {
    return this.#calls.unsubscribe(clientId, topicFilters);
  }

  leave(clientId: string, gateway: number) {
    return this.#calls.leave(clientId, gateway);
  }

  [Symbol.dispose](): void {
    this.#hold.released();
  }
}

export class GatewaySession extends RpcTarget implements GatewayCalls {
  readonly #calls: GatewayCalls;
  readonly #hold: Hold;

  constructor(calls: GatewayCalls, hold: Hold) {
    super();
    [this.#calls, this.#hold] = [calls, hold];
  }

  deliver(batch: PackedRouted) {
    return this.#calls.deliver(batch);
  }

  takeover(clientId: string, connectionId: string) {
    return this.#calls.takeover(clientId, connectionId);
  }

  [Symbol.dispose](): void {
    this.#hold.released();
  }
}

export class SessionObjectSession extends RpcTarget implements SessionCalls {
  readonly #calls: SessionCalls;
  readonly #hold: Hold;

  constructor(calls: SessionCalls, hold: Hold) {
    super();
    [this.#calls, this.#hold] = [calls, hold];
  }

  attach(clientId: string, gateway: number, connectionId: string, owner?: string, persistent?: boolean) {
    return this.#calls.attach(clientId, gateway, connectionId, owner, persistent);
  }

  page(clientId: string, connectionId: string, after: number) {
    return this.#calls.page(clientId, connectionId, after);
  }

  abandon(clientId: string, connectionId: string) {
    return this.#calls.abandon(clientId, connectionId);
  }

  stage(clientId: string, connectionId: string, outbound: OutboundMessage[], first: boolean) {
    return this.#calls.stage(clientId, connectionId, outbound, first);
  }

  detach(clientId: string, connectionId: string, session: SessionExport | undefined, staged?: boolean) {
    return this.#calls.detach(clientId, connectionId, session, staged);
  }

  enqueue(batch: PackedRouted, from: number | null) {
    return this.#calls.enqueue(batch, from);
  }

  [Symbol.dispose](): void {
    this.#hold.released();
  }
}
