// The sharded topology's calls between objects over Durable Object RPC: the platform-free
// FabricCore (broker/fabric-core.ts: routing, batching, deadlines) with this namespace's objects
// as its directory.
import { FabricCore, type Caller, type Directory, type GatewayCalls, type SessionCalls, type ShardCalls } from '../broker/fabric-core.ts';
import { objectName, type Topology } from './topology.ts';

export { CallTimeout, type CallKind, type Caller } from '../broker/fabric-core.ts';

export class Fabric extends FabricCore {
  /** `timeout`: the deadline (ms) of a call that waits on no other; see FabricCore. */
  constructor(env: Env, namespace: string, topology: Topology, caller: Caller, timeout = 5_000) {
    // RPC's stub types lose readonly tuples (user properties); the values are the same
    const directory: Directory = {
      shard: (i) => env.SHARD.getByName(objectName(namespace, i)) as unknown as ShardCalls,
      gateway: (i) => env.BROKER.getByName(objectName(namespace, i)) as unknown as GatewayCalls,
      session: (i) => env.SESSION.getByName(objectName(namespace, i)) as unknown as SessionCalls,
    };
    super(directory, topology, caller, { timeout, log: (message) => console.error(`${namespace}: ${message}`) });
  }
}
