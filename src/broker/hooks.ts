// Plug-in points: authentication, authorization and observation. A plugin implements only what
// it needs; hooks run in order and the first rejection (a reason code) wins.
import type { ConnectPacket, PublishPacket, Subscription } from '../protocol/index.ts';
import type { AclRule } from './auth/acl.ts';

/** Who a client proved to be; kept with its connection (and across hibernation). */
export interface Principal {
  /** 'worker': another Worker calling over RPC, as the identity its service binding declares (edge/rpc.ts). */
  method: 'anonymous' | 'password' | 'jwt' | 'scram' | 'worker';
  /** The name ACLs know the client by (%u): its verified user name, or its token's subject. */
  username?: string;
  /** ACL rules its token or its user store entry carried; they replace the ACL file's rules for this client. */
  acl?: AclRule[];
}

export interface ClientInfo {
  clientId: string;
  username?: string;
  protocolVersion: number;
  /** Set once authenticated by a hook that names one. */
  principal?: Principal;
  /** The client's address as the transport saw it, when known. */
  peer?: string;
}

/** Why a message did not reach a session. */
export type DropReason = 'queue-full' | 'expired' | 'too-large' | 'not-authorized' | 'retained-limit' | 'retained-quota';

/** Bytes and packets that crossed one connection in one read or one coalesced write. */
export interface Traffic {
  direction: 'in' | 'out';
  bytes: number;
  packets: number;
  publishes: number;
}

/** A reason code rejects; undefined allows. */
export type Verdict = number | undefined;

/** One step's outcome: a challenge for AUTH 0x18, or the principal and any final data. */
export type AuthStep = { challenge: Uint8Array } | { principal: Principal; data?: Uint8Array };

/** The server's side of one v5 enhanced authentication exchange [MQTT-4.12]. */
export interface AuthExchange {
  /** Takes the client's Authentication Data; throws MqttError to refuse. */
  step(data: Uint8Array | undefined): Promise<AuthStep>;
}

export interface Hooks {
  /** A reason code refuses; a Principal accepts and names the client; undefined has no opinion. */
  authenticate(client: ClientInfo, connect: ConnectPacket): Verdict | Principal | Promise<Verdict | Principal>;
  /** An exchange for this Authentication Method, or undefined when this hook does not offer it. */
  startAuth(client: ClientInfo, method: string): AuthExchange | undefined;
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
  /** A connection ended before its CONNECT was accepted: refused credentials, limits, bad input. */
  onConnectRefused(client: ClientInfo, reasonCode: number): void;
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

  /** The first refusal, else the first principal named, else undefined. */
  async authenticate(client: ClientInfo, connect: ConnectPacket): Promise<Verdict | Principal> {
    let principal: Principal | undefined;
    for (const h of this.hooks) {
      const verdict = await h.authenticate?.(client, connect);
      if (typeof verdict === 'number') return verdict;
      principal ??= verdict;
    }
    return principal;
  }

  /** The first hook's exchange for an Authentication Method; undefined when none offers it. */
  startAuth(client: ClientInfo, method: string): AuthExchange | undefined {
    for (const h of this.hooks) {
      const exchange = h.startAuth?.(client, method);
      if (exchange) return exchange;
    }
    return undefined;
  }

  /** Runs a synchronous authorization hook through the chain. */
  check<K extends Exclude<keyof Verdicts, 'authenticate' | 'startAuth'>>(name: K, ...args: Parameters<Hooks[K]>): Verdict {
    for (const h of this.hooks) {
      const fn = h[name] as ((...a: Parameters<Hooks[K]>) => Verdict) | undefined;
      const verdict = fn?.apply(h, args); // hooks may be class instances: keep `this`
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
  emit<K extends 'onConnect' | 'onDisconnect' | 'onPublish' | 'onDrop' | 'onTraffic' | 'onConnectRefused'>(name: K, ...args: Parameters<Hooks[K]>): void {
    for (const h of this.hooks) (h[name] as ((...a: Parameters<Hooks[K]>) => void) | undefined)?.apply(h, args);
  }
}
