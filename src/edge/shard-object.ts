// A topic-shard object of a sharded namespace (name `<namespace>#<index>`): translates RPC calls
// from gateways and session objects into ShardHost calls, then sends what they routed on, one
// batched call per gateway or session object. No MQTT rule lives here.
import { DurableObject } from 'cloudflare:workers';
import { ShardEndpoint } from '../broker/roles/endpoints.ts';
import { ShardHost } from '../broker/roles/shard-host.ts';
import { unpackAnswers } from '../broker/packed.ts';
import { sessionObjectOf, shardOfTopic } from '../broker/shard-key.ts';
import { MqttError } from '../protocol/index.ts';
import type { RuleEngine } from '../rules/engine.ts';
import { ruleEngine } from './rules.ts';
import { handleRuleApi } from './api/rules.ts';
import { parseObjectName } from './topology.ts';
import type { Alarm } from './alarm.ts';
import type { Meter } from './meter.ts';
import { answerFor, askObject, type Member, type UnitsByRole } from './cost.ts';
import { hold, roleParts, rpcCall } from './role-parts.ts';
import { ShardSession } from './rpc-session.ts';
import type { ShardCalls } from '../broker/fabric-core.ts';
import type { Message } from '../broker/index.ts';
import { configFromEnv } from './config.ts';
import { SqliteLocations } from './sqlite/placement.ts';
import { SqliteRetainedStore } from './sqlite/retained-store.ts';
import { SqliteSessionStore } from './sqlite/session-store.ts';

export class ShardObject extends DurableObject<Env> {
  private readonly endpoint: ShardEndpoint;
  private readonly meter: Meter;
  private readonly alarms: Alarm;
  /** Rules, for the topics this shard owns: each matching message is recorded once, here. */
  private readonly rules: RuleEngine;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const { sql, topology, meter, alarms, fabric } = roleParts(ctx, env, 'shard');
    [this.meter, this.alarms] = [meter, alarms];
    const { namespace, index } = parseObjectName(ctx.id.name);
    // a republished message goes to the shard owning its topic: this one in-process, another by RPC
    this.rules = ruleEngine(env, namespace, sql, async (topic, payload, options) => {
      const message = {
        topic, payload, qos: options.qos, retain: options.retain, refusable: options.qos > 0,
        properties: options.userProperties?.length ? { userProperties: options.userProperties } : undefined,
      };
      const [accepted] = shardOfTopic(topic, topology.shards) === index ? unpackAnswers(await this.endpoint.accept([message], null)) : [await fabric.shards.publish(message)];
      if (accepted.refused !== undefined) throw new MqttError(accepted.refused, 'a rule\'s outbox is full');
    });
    const host = new ShardHost({
      retained: new SqliteRetainedStore(sql), subscriptions: new SqliteSessionStore(sql), locations: new SqliteLocations(sql),
      clock: { now: () => Date.now() }, sessionObjectOf: (clientId) => sessionObjectOf(clientId, topology.sessions),
      config: configFromEnv(env), shards: topology.shards,
      rules: this.rules,
    });
    this.endpoint = new ShardEndpoint(host, fabric);
    ctx.blockConcurrencyWhile(async () => {
      await this.alarms.load();
      await this.alarms.schedule([this.meter.settle(undefined, Date.now()), this.rules.due()]); // a new object's tables are rows written
    });
  }

  /** An RPC session for a gateway's or session object's calls (rpc-session.ts): one billed request. */
  open(): ShardSession {
    // ShardEndpoint's calls: publish, subscribe (`gateway`: where the client is; null: its session
    // is away, with its session object), unsubscribe, leave (ShardHost.leave)
    const calls: ShardCalls = {
      leave: (clientId, gateway) => this.event(async () => this.endpoint.leave(clientId, gateway)),
      publish: (messages, from) => this.event(() => this.endpoint.publish(messages, from)),
      subscribe: (clientId, gateway, subscriptions, retained) => this.event(() => this.endpoint.subscribe(clientId, gateway, subscriptions, retained)),
      unsubscribe: (clientId, topicFilters) => this.event(() => this.endpoint.unsubscribe(clientId, topicFilters)),
    };
    return new ShardSession(calls, hold(this.meter, () => void this.alarms.schedule([this.meter.settle(undefined, Date.now())])));
  }

  /** Worker RPC's retained look-up, asked by a gateway (see ShardEndpoint.retained). */
  async retained(filter: string, maxBytes: number): Promise<{ messages: Message[]; more: boolean }> {
    return this.event(async () => this.endpoint.retained(filter, maxBytes), true);
  }

  /** GET /api/cost: billed units of this object and of the group it answers for (these calls are not counted). */
  unitsOf(group: Member[]): Promise<UnitsByRole> {
    return answerFor('shards', this.meter.read(Date.now()), group, askObject(this.env));
  }

  override async alarm(): Promise<void> {
    const start = Date.now();
    this.alarms.fired();
    await this.rules.drain(); // deliveries run here, never in a publish's call
    this.meter.active(start, Date.now());
    await this.alarms.schedule([this.meter.settle(undefined, Date.now()), this.rules.due()]);
  }

  /** /api/rules in a sharded namespace: the Worker asks every shard (each holds its topics' outboxes). */
  async rulesApi(request: Request): Promise<Response> {
    return this.event(() => handleRuleApi(this.rules, request), true);
  }

  /** A call; on an RPC session (not `billed`) its opening was the billed request. */
  private event<T>(work: () => Promise<T>, billed = false): Promise<T> {
    return rpcCall(this.meter, work, async (start) => {
      const now = Date.now();
      this.meter.active(start, now);
      await this.alarms.schedule([this.meter.settle(undefined, now), this.rules.due()]);
    }, billed);
  }
}
