// What a topic-shard or session object starts from: its SQLite (tables created), its meter, its
// one alarm, its place in the namespace and the calls to the namespace's other objects.
import { Alarm } from './alarm.ts';
import { Fabric } from './fabric.ts';
import { Meter } from './meter.ts';
import { migrate } from './sqlite/schema.ts';
import { Sql } from './sqlite/sql.ts';
import { parseObjectName, topologyFromEnv } from './topology.ts';

export function roleParts(ctx: DurableObjectState, env: Env, role: 'shard' | 'session') {
  const sql = new Sql(ctx.storage.sql);
  migrate(sql);
  const { namespace, index } = parseObjectName(ctx.id.name);
  const topology = topologyFromEnv(env, namespace);
  return { sql, topology, meter: new Meter(sql), alarms: new Alarm(ctx.storage), fabric: new Fabric(env, namespace, topology, { role, index }) };
}
