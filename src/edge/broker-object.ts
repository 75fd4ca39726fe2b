// One namespace's broker (named after the namespace), or one gateway of a sharded namespace
// (named `<namespace>#<index>`): holds client WebSockets with the Hibernation API and translates
// runtime events (message, close, error, alarm, HTTP API request, RPC calls from shards, session
// objects and other Workers) into broker calls, metering each. No MQTT rule lives here.
import { DurableObject } from 'cloudflare:workers';
import type { Broker, Connection } from '../broker/index.ts';
import { observedBroker, type Observed } from '../broker/observe/observed.ts';
import { MqttError, ReasonCode } from '../protocol/index.ts';
import { CachedDirectory, createAuth, type UserDirectory } from '../broker/auth/index.ts';
import { adminPublish, type AdminPublish } from '../broker/admin/publish.ts';
import { checkRetainedFilter, readableRetained } from '../broker/admin/retained.ts';
import { EventStreams } from './api/event-stream.ts';
import { handleApi, type ApiContext } from './api/routes.ts';
import { authConfigFromEnv, startupNotice } from './auth/config.ts';
import { jwksFetcher } from './auth/jwks-fetch.ts';
import { configFromEnv } from './config.ts';
import { Alarm } from './alarm.ts';
import { Fabric } from './fabric.ts';
import { costFigures, Meter } from './meter.ts';
import { GatewayEndpoint } from '../broker/roles/endpoints.ts';
import { answerFor, askObject, type Member, type UnitsByRole } from './cost.ts';
import { hold, rpcCall } from './role-parts.ts';
import { GatewaySession } from './rpc-session.ts';
import { outcome, retainedFromShards, retainedMessage, workerClient, type Outcome, type WorkerIdentity } from './worker-calls.ts';
import { objectName, parseObjectName, topologyFromEnv } from './topology.ts';
import { chooseSubprotocol } from './route.ts';
import { readSnapshot, readStash, socketLink, writeSnapshot } from './socket.ts';
import { migrate } from './sqlite/schema.ts';
import { SqliteJwksStore } from './sqlite/jwks-store.ts';
import { SqliteRetainedStore } from './sqlite/retained-store.ts';
import { SqliteSessionStore } from './sqlite/session-store.ts';
import { SqliteUsers } from './sqlite/user-store.ts';
import { SqliteFlowSnapshots } from './sqlite/flow-snapshots.ts';
import type { RuleEngine } from '../rules/engine.ts';
import { ruleEngine } from './rules.ts';

/**
 * How long after a change the flows of clean sessions are copied to SQLite (ms). Their timer
 * also keeps the runtime from hibernating the object before the copy: an object with a timer
 * pending is not hibernated (Cloudflare: Durable Object lifecycle).
 */
const flowSaveDelay = 1_000;
import { Sql } from './sqlite/sql.ts';

export class BrokerObject extends DurableObject<Env> {
  private readonly broker: Broker;
  private readonly observed: Observed;
  private readonly meter: Meter;
  private readonly streams: EventStreams;
  /** The namespace's user store (default topology; a sharded namespace keeps it in session object #0). */
  private readonly users: SqliteUsers;
  /** Where user names are looked up: this object's store, or (sharded gateway) session object #0's. */
  private readonly directory: UserDirectory;
  private readonly namespace: string;
  private readonly connections = new Map<WebSocket, Connection>();
  private readonly alarms: Alarm;
  /** The sharded topology's calls to shards and session objects; none in the default topology. */
  private readonly fabric?: Fabric;
  /** Set while clean sessions' flows changed since they were last copied to SQLite. */
  private flowSave?: ReturnType<typeof setTimeout>;
  /** What this gateway answers to shards and session objects (sharded topology). */
  private readonly endpoint: GatewayEndpoint;
  /** The namespace's rules (default topology; a sharded namespace runs them on its topic shards). */
  private readonly rules?: RuleEngine;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sql = new Sql(ctx.storage.sql);
    migrate(sql);
    const name = ctx.id.name ?? 'default';
    const gateway = name.includes('#') ? parseObjectName(name) : undefined;
    const namespace = gateway?.namespace ?? name;
    if (gateway) {
      this.fabric = new Fabric(env, namespace, topologyFromEnv(env, namespace), { role: 'gateway', index: gateway.index }, configFromEnv(env).callTimeout);
    }
    this.alarms = new Alarm(ctx.storage, () => this.meter.alarmSet());
    const auth = authConfigFromEnv(env, namespace);
    const notice = startupNotice(env, auth);
    if (notice) console.warn(notice);
    const clock = { now: () => Date.now() };
    const log = (level: 'info' | 'warn' | 'error', message: string) => console[level](message);
    const jwks = { fetch: jwksFetcher(), store: new SqliteJwksStore(sql), onFetch: (ok: boolean) => this.observed.metrics.jwksFetched(ok) };
    const sockets = ctx.getWebSockets();
    this.meter = new Meter(sql, sockets.map(readStash));
    this.users = new SqliteUsers(sql);
    if (!gateway) this.rules = ruleEngine(env, namespace, sql, (topic, payload, options) => this.republish(topic, payload, options));
    // a gateway asks session object #0, which holds a sharded namespace's user store
    const storeObject = () => env.SESSION.getByName(objectName(namespace, 0));
    const users = gateway ? new CachedDirectory((name) => storeObject().user(name), clock.now) : this.users;
    [this.directory, this.namespace] = [users, namespace];
    this.observed = observedBroker({
      sessions: new SqliteSessionStore(sql),
      flows: new SqliteFlowSnapshots(sql),
      retained: new SqliteRetainedStore(sql),
      config: configFromEnv(env),
      clock,
      hooks: createAuth({ ...auth, users }, clock, log, jwks).hooks,
      remote: this.fabric,
      rules: this.rules,
      // a drain's next step: a turn of its own, so what the last one wrote is committed and its messages leave
      defer: (run) => void setTimeout(() => {
        const start = Date.now();
        run();
        void this.afterEvent(start);
      }, 0),
    }, this.meter.savedCounters, costFigures(this.meter), this.rules && (() => this.rules!.sysFigures()));
    this.broker = this.observed.broker;
    this.broker.sessions.flows.whenChanged = () => this.saveFlowsSoon();
    this.endpoint = new GatewayEndpoint(this.broker);
    this.streams = new EventStreams(this.observed.taps, this.meter);
    for (const ws of sockets) this.attach(ws, readSnapshot(ws));
    if (sockets.length) console.log(`broker woke from hibernation with ${sockets.length} connections`);
    this.broker.start();
    ctx.blockConcurrencyWhile(async () => {
      await this.alarms.load();
      await this.afterEvent(Date.now());
    });
  }

  override async fetch(request: Request): Promise<Response> {
    const start = Date.now();
    this.meter.request();
    if (request.headers.get('Upgrade')?.toLowerCase() !== 'websocket') {
      const response = await handleApi(this.api(request), request);
      await this.afterEvent(start);
      return response;
    }
    const protocol = chooseSubprotocol(request.headers.get('Sec-WebSocket-Protocol'));
    if (protocol === undefined) return new Response('Unsupported WebSocket subprotocol\n', { status: 400 });
    const pair = new WebSocketPair();
    this.ctx.acceptWebSocket(pair[1]);
    writeSnapshot(pair[1], this.attach(pair[1], undefined, request.headers.get('CF-Connecting-IP') ?? undefined));
    await this.afterEvent(start);
    const headers = protocol ? { 'Sec-WebSocket-Protocol': protocol } : undefined;
    return new Response(null, { status: 101, webSocket: pair[0], headers });
  }

  override async webSocketMessage(ws: WebSocket, message: ArrayBuffer | string): Promise<void> {
    const start = Date.now();
    this.meter.webSocketMessage();
    const conn = this.connection(ws);
    if (typeof message === 'string') conn.fail(new MqttError(ReasonCode.ProtocolError, 'text frame')); // [MQTT-6.0.0-1]
    else await conn.receive(new Uint8Array(message));
    await this.afterEvent(start, ws);
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    try {
      this.meter.socketGone();
      this.connection(ws).lost();
      await this.afterEvent(Date.now());
    } finally {
      this.connections.delete(ws);
      // The runtime leaves our side open until we reciprocate the close.
      try {
        ws.close(code === 1005 ? 1000 : code, 'closed');
      } catch {
        // already closed
      }
    }
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.meter.socketGone();
    this.connection(ws).lost();
    this.connections.delete(ws);
    await this.afterEvent(Date.now());
  }

  override async alarm(): Promise<void> {
    const start = Date.now();
    this.meter.request('alarm');
    this.alarms.fired();
    const next = this.broker.tick();
    if (next !== undefined) this.broker.due(next);
    // rules' deliveries run here, never in a publish's event: a slow sink cannot slow MQTT
    if (this.rules) await this.rules.drain();
    // any open socket may carry the meter's stash of what the alarm cost
    await this.afterEvent(start, [...this.connections.keys()].find((ws) => this.isOpen(ws)));
  }

  /** Sharded: an RPC session for a shard's or session object's calls (rpc-session.ts): one billed request. */
  open(): GatewaySession {
    const after = (start: number) => this.afterEvent(start);
    // GatewayEndpoint's calls: messages routed to this gateway's sessions, and a takeover of a
    // client id held here by a connection on another gateway
    return new GatewaySession({
      deliver: (batch) => rpcCall(this.meter, () => this.endpoint.deliver(batch), after, false),
      takeover: (clientId, connectionId) => rpcCall(this.meter, () => this.endpoint.takeover(clientId, connectionId), after, false),
    }, hold(this.meter, () => void this.afterEvent(Date.now())));
  }

  /** Worker RPC (rpc.ts): a publish by another Worker, as the identity its service binding declares. */
  workerPublish(input: AdminPublish, identity: WorkerIdentity): Promise<Outcome<number>> {
    return rpcCall(this.meter, () => outcome(async () => adminPublish(this.broker, input, await workerClient(this.directory, identity))), (start) => this.afterEvent(start));
  }

  /** Worker RPC (rpc.ts): the retained messages the identity may read; sharded, from every shard. */
  workerRetained(filter: string, limit: number, identity: WorkerIdentity): Promise<Outcome<{ total: number; messages: ReturnType<typeof retainedMessage>[]; more: boolean }>> {
    return rpcCall(this.meter, () => outcome(async () => {
      const client = await workerClient(this.directory, identity);
      checkRetainedFilter(this.broker, filter, client);
      const found = this.fabric
        ? await retainedFromShards(this.env, this.namespace, this.fabric.topology, filter)
        : { messages: this.broker.shard.retained.match(filter), more: false };
      const { messages, total } = readableRetained(this.broker, found.messages, limit, client);
      return { total, messages: messages.map(retainedMessage), more: found.more };
    }), (start) => this.afterEvent(start));
  }

  /** GET /api/cost: billed units of this object and of the group it answers for (these calls are not counted). */
  unitsOf(group: Member[]): Promise<UnitsByRole> {
    return answerFor(this.fabric ? 'gateways' : 'broker', this.meter.read(Date.now()), group, askObject(this.env));
  }

  /** A rule's republish: a publish like the HTTP API's (0x97 when a rule's outbox is full). */
  private async republish(topic: string, payload: Uint8Array, options: { qos: 0 | 1 | 2; retain: boolean; userProperties?: [string, string][] }): Promise<void> {
    const properties = options.userProperties?.length ? { userProperties: options.userProperties } : undefined;
    await this.broker.publish({ topic, payload, qos: options.qos, retain: options.retain, properties }, undefined, options.qos > 0);
    this.broker.flush();
  }

  /**
   * Copies clean sessions' changed flows to SQLite once they stopped changing for flowSaveDelay:
   * the pending timer keeps the object from hibernating until then, and a steady flow of messages
   * writes no row (CleanFlows.quiet).
   */
  private saveFlowsSoon(): void {
    if (this.flowSave) return;
    const flows = this.broker.sessions.flows;
    flows.quiet(); // from now on
    const look = () => {
      if (!flows.quiet()) return void (this.flowSave = setTimeout(look, flowSaveDelay));
      this.flowSave = undefined;
      const start = Date.now();
      flows.save();
      this.meter.active(start, Date.now());
    };
    this.flowSave = setTimeout(look, flowSaveDelay);
  }

  /** The Worker checked the admin token and the ?ns= it routed by. */
  private api(request: Request): ApiContext {
    const namespace = new URL(request.url).searchParams.get('ns') ?? 'default';
    return { namespace, observed: this.observed, meter: this.meter, streams: this.streams, users: this.users, rules: this.rules };
  }

  private attach(ws: WebSocket, snapshot?: ReturnType<typeof readSnapshot>, peer?: string): Connection {
    const conn = this.broker.gateway.open(snapshot?.id ?? crypto.randomUUID(), socketLink(ws, peer), snapshot);
    this.connections.set(ws, conn);
    return conn;
  }

  /** A socket's connection; one unknown to us (it should not happen) gets a fresh one. */
  private connection(ws: WebSocket): Connection {
    return this.connections.get(ws) ?? this.attach(ws, readSnapshot(ws));
  }

  private isOpen(ws: WebSocket): boolean {
    const state = this.connections.get(ws)?.state;
    return state === 'active' || state === 'awaiting-connect';
  }

  /**
   * Refreshes $SYS (at most once per interval), sends what the event produced, meters it, and
   * keeps the one alarm at the earliest deadline: the broker's, or the meter's next save. `ws`, an
   * open socket, gets its snapshot written and carries the meter's stash when traffic alone changed.
   */
  private async afterEvent(start: number, ws?: WebSocket): Promise<void> {
    this.observed.sys.refresh();
    this.broker.flush();
    // No event waits for calls other events left running (a claim, a hand-over, a QoS 0 publish):
    // one slow call would stall every connection of this gateway. What their answers produce is
    // sent by whoever resumes on them (Broker.publish, Broker.receive, Connection.receive).
    const now = Date.now();
    this.meter.active(start, now);
    const carrier = ws && this.isOpen(ws) ? ws : undefined;
    try {
      await this.alarms.schedule([this.broker.takeDue(), this.meter.settle(this.observed.metrics, now, !!carrier), this.rules?.due()]);
    } finally {
      // after the alarm, so that the stash holds its setAlarm row; written even if setting it failed
      if (carrier) writeSnapshot(carrier, this.connections.get(carrier)!, this.meter.stash(this.observed.metrics, now));
    }
  }
}
