// What a topic-shard or session object starts from: its SQLite (tables created), its meter, its
// one alarm, its place in the namespace and the calls to the namespace's other objects; and how
// every role object meters an RPC call it receives.
import { Alarm } from './alarm.ts';
import { configFromEnv } from './config.ts';
import { Fabric } from './fabric.ts';
import { Meter } from './meter.ts';
import { migrate } from './sqlite/schema.ts';
import { Sql } from './sqlite/sql.ts';
import { parseObjectName, topologyFromEnv } from './topology.ts';

/** An RPC call from another object: counted, run, and its time metered by `after`. */
export async function rpcCall<T>(meter: Meter, work: () => Promise<T>, after: (start: number) => Promise<void>): Promise<T> {
  const start = Date.now();
  meter.rpc();
  try {
    return await work();
  } finally {
    await after(start);
  }
}

export function roleParts(ctx: DurableObjectState, env: Env, role: 'shard' | 'session') {
  const sql = new Sql(ctx.storage.sql);
  migrate(sql);
  const { namespace, index } = parseObjectName(ctx.id.name);
  const topology = topologyFromEnv(env, namespace);
  const meter = new Meter(sql);
  return { sql, topology, meter, alarms: new Alarm(ctx.storage, () => meter.alarmSet()), fabric: new Fabric(env, namespace, topology, { role, index }, configFromEnv(env).callTimeout) };
}
