// The sharded topology's calls between objects over Durable Object RPC: the platform-free
// FabricCore (broker/fabric-core.ts: routing, batching, deadlines) with this namespace's objects
// as its directory, each reached through an RPC session (rpc-session.ts: one billed request per
// session, not per call).
import { FabricCore, type Caller, type Directory, type GatewayCalls, type SessionCalls, type ShardCalls } from '../broker/fabric-core.ts';
import { Sessions } from './rpc-session.ts';
import { objectName, type Topology } from './topology.ts';

export { CallTimeout, type CallKind, type Caller } from '../broker/fabric-core.ts';

const shardMethods = ['publish', 'subscribe', 'unsubscribe', 'leave'] as const;
const gatewayMethods = ['deliver', 'takeover'] as const;
const sessionMethods = ['attach', 'page', 'abandon', 'stage', 'detach', 'enqueue'] as const;

export class Fabric extends FabricCore {
  /** `timeout`: the deadline (ms) of a call that waits on no other; see FabricCore. */
  constructor(env: Env, namespace: string, topology: Topology, caller: Caller, timeout = 5_000) {
    // RPC's stub types lose readonly tuples (user properties); the values are the same
    const open = <T>(ns: { getByName(name: string): unknown }, i: number) => (ns.getByName(objectName(namespace, i)) as unknown as { open(): Promise<T> }).open();
    const directory: Directory = {
      shard: over(new Sessions((i) => open<ShardCalls>(env.SHARD, i), timeout), shardMethods),
      gateway: over(new Sessions((i) => open<GatewayCalls>(env.BROKER, i), timeout), gatewayMethods),
      session: over(new Sessions((i) => open<SessionCalls>(env.SESSION, i), timeout), sessionMethods),
    };
    super(directory, topology, caller, { timeout, log: (message) => console.error(`${namespace}: ${message}`) });
  }
}

/** The calls of target `i`, each made on its session. */
function over<T extends object>(sessions: Sessions<T>, methods: ReadonlyArray<keyof T & string>): (i: number) => T {
  const byIndex = new Map<number, T>();
  return (i) => {
    let calls = byIndex.get(i);
    if (!calls) {
      calls = Object.fromEntries(methods.map((m) => [m, (...args: unknown[]) =>
        sessions.call(i, (stub) => (stub[m] as (...a: unknown[]) => Promise<unknown>)(...args))])) as T;
      byIndex.set(i, calls);
    }
    return calls;
  };
}
