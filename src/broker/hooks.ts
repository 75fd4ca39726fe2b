// Plug-in points: authentication, authorization and observation. A plugin implements only what
// it needs; hooks run in order and the first rejection (a reason code) wins.
import type { ConnectPacket, PublishPacket, Subscription } from '../protocol/index.ts';

export interface ClientInfo {
  clientId: string;
  username?: string;
  protocolVersion: number;
}

/** Why a message did not reach a session. */
export type DropReason = 'queue-full' | 'expired' | 'too-large';

/** Bytes and packets that crossed one connection in one read or one coalesced write. */
export interface Traffic {
  direction: 'in' | 'out';
  bytes: number;
  packets: number;
  publishes: number;
}

/** A reason code rejects; undefined allows. */
export type Verdict = number | undefined;

export interface Hooks {
  authenticate(client: ClientInfo, connect: ConnectPacket): Verdict | Promise<Verdict>;
  authorizePublish(client: ClientInfo, packet: PublishPacket): Verdict;
  authorizeSubscribe(client: ClientInfo, subscription: Subscription): Verdict;
  /** At delivery: may this client read this topic? */
  authorizeDeliver(client: ClientInfo, topic: string): Verdict;
  onConnect(client: ClientInfo): void;
  onDisconnect(client: ClientInfo, reason: 'normal' | 'abnormal' | 'takeover'): void;
  onPublish(client: ClientInfo | undefined, packet: PublishPacket): void;
  /** A message was not delivered to a session: queue full, expired, too large for the client. */
  onDrop(clientId: string, reason: DropReason): void;
  /** Per transport read and per coalesced write: what metering and $SYS count. */
  onTraffic(client: ClientInfo, traffic: Traffic): void;
}

type Verdicts = { [K in keyof Hooks as ReturnType<Hooks[K]> extends void ? never : K]: Hooks[K] };

export class HookChain {
  private readonly hooks: Partial<Hooks>[];
  /** has() answers, remembered until a plugin is added. */
  private readonly implemented = new Map<keyof Hooks, boolean>();

  constructor(hooks: Partial<Hooks>[] = []) {
    this.hooks = hooks;
  }

  /** Whether any hook implements `name` (own or class method): lets hot paths skip building arguments. */
  has(name: keyof Hooks): boolean {
    let known = this.implemented.get(name);
    if (known === undefined) this.implemented.set(name, (known = this.hooks.some((h) => typeof h[name] === 'function')));
    return known;
  }

  async authenticate(client: ClientInfo, connect: ConnectPacket): Promise<Verdict> {
    for (const h of this.hooks) {
      const verdict = await h.authenticate?.(client, connect);
      if (verdict !== undefined) return verdict;
    }
    return undefined;
  }

  /** Runs a synchronous authorization hook through the chain. */
  check<K extends Exclude<keyof Verdicts, 'authenticate'>>(name: K, ...args: Parameters<Hooks[K]>): Verdict {
    for (const h of this.hooks) {
      const fn = h[name] as ((...a: Parameters<Hooks[K]>) => Verdict) | undefined;
      const verdict = fn?.(...args);
      if (verdict !== undefined) return verdict;
    }
    return undefined;
  }

  /** Appends a plugin after those given at construction (observers that need the broker). */
  add(hooks: Partial<Hooks>): void {
    this.hooks.push(hooks);
    this.implemented.clear();
  }

  /** Notifies every hook of an event. */
  emit<K extends 'onConnect' | 'onDisconnect' | 'onPublish' | 'onDrop' | 'onTraffic'>(name: K, ...args: Parameters<Hooks[K]>): void {
    for (const h of this.hooks) (h[name] as ((...a: Parameters<Hooks[K]>) => void) | undefined)?.(...args);
  }
}
