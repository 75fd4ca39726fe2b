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
}

type Verdicts = { [K in keyof Hooks as ReturnType<Hooks[K]> extends void ? never : K]: Hooks[K] };

export class HookChain {
  private readonly hooks: Partial<Hooks>[];
  private readonly implemented: ReadonlySet<string>;

  constructor(hooks: Partial<Hooks>[] = []) {
    this.hooks = hooks;
    this.implemented = new Set(hooks.flatMap((h) => Object.keys(h)));
  }

  /** Whether any hook implements `name`: lets hot paths skip building the arguments. */
  has(name: keyof Hooks): boolean {
    return this.implemented.has(name);
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

  /** Notifies every hook of an event. */
  emit<K extends 'onConnect' | 'onDisconnect' | 'onPublish' | 'onDrop'>(name: K, ...args: Parameters<Hooks[K]>): void {
    for (const h of this.hooks) (h[name] as ((...a: Parameters<Hooks[K]>) => void) | undefined)?.(...args);
  }
}
