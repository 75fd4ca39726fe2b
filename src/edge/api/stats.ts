// GET /api/stats (JSON) and GET /metrics (Prometheus text): the broker's counters and gauges with
// the billed units and what they cost at Cloudflare's list prices (no free tier deducted).
import type { Observed } from '../../broker/observe/observed.ts';
import { gauges } from '../../broker/observe/gauges.ts';
import { brokerName, brokerVersion } from '../../broker/version.ts';
import { billing } from '../billing.ts';
import type { Meter } from '../meter.ts';
import type { RuleEngine, RuleView } from '../../rules/engine.ts';

export type Stats = ReturnType<typeof statsOf>;

/** A rule's line in the stats: its counters, what waits and how late. */
const ruleStats = (r: RuleView) => ({
  name: r.name, enabled: r.enabled, action: r.action, ...r.counters, outbox: r.outbox.messages, outboxBytes: r.outbox.bytes,
  deadLetters: r.deadLetters.messages, lagMs: r.lagMs,
});

export function statsOf(namespace: string, { broker, metrics }: Observed, meter: Meter, streams: number, now: number, rules?: RuleEngine) {
  const c = metrics.counters;
  const g = gauges(broker);
  return {
    namespace, broker: `${brokerName} ${brokerVersion}`, since: new Date(c.since).toISOString(),
    uptimeSeconds: Math.floor((now - c.since) / 1000),
    clients: { connected: g.connected, disconnected: g.disconnected, maximum: c.maxConnected, connects: c.connects, refused: c.refused },
    received: c.received, sent: c.sent,
    retained: g.retained, subscriptions: g.subscriptions, queued: g.queued, dropped: c.dropped, jwksFetches: c.jwksFetches,
    eventStreams: streams,
    /** Sharded topology: this gateway's calls to other objects that missed their deadline, by kind. */
    callsTimedOut: { ...broker.remote?.timeouts },
    /** Sharded topology: copies of QoS 2 messages sent again after a restart, recognised here and not delivered twice. */
    copiesRecognised: broker.sessions.copiesRecognised,
    rules: (rules?.list() ?? []).map(ruleStats),
    billing: billing(meter.read(now)),
  };
}

type Metric = [name: string, type: 'counter' | 'gauge', help: string, value: (s: Stats) => number | Record<string, number>];

/** One row per metric; a record value becomes one sample per key, labelled `reason`. */
const metricTable: Metric[] = [
  ['mqtt_uptime_seconds', 'counter', 'Seconds since the namespace first started.', (s) => s.uptimeSeconds],
  ['mqtt_clients_connected', 'gauge', 'Clients connected now.', (s) => s.clients.connected],
  ['mqtt_clients_disconnected', 'gauge', 'Persistent sessions whose client is away.', (s) => s.clients.disconnected],
  ['mqtt_clients_maximum', 'gauge', 'Most clients connected at once.', (s) => s.clients.maximum],
  ['mqtt_connects_total', 'counter', 'Successful CONNECTs.', (s) => s.clients.connects],
  ['mqtt_packets_received_total', 'counter', 'MQTT packets received.', (s) => s.received.packets],
  ['mqtt_packets_sent_total', 'counter', 'MQTT packets sent.', (s) => s.sent.packets],
  ['mqtt_messages_received_total', 'counter', 'PUBLISH packets received.', (s) => s.received.publishes],
  ['mqtt_messages_sent_total', 'counter', 'PUBLISH packets sent.', (s) => s.sent.publishes],
  ['mqtt_bytes_received_total', 'counter', 'Bytes received from clients.', (s) => s.received.bytes],
  ['mqtt_bytes_sent_total', 'counter', 'Bytes sent to clients.', (s) => s.sent.bytes],
  ['mqtt_retained_messages', 'gauge', 'Retained messages stored.', (s) => s.retained],
  ['mqtt_subscriptions', 'gauge', 'Subscriptions held.', (s) => s.subscriptions],
  ['mqtt_queued_messages', 'gauge', 'QoS 1/2 messages queued for or in flight to sessions.', (s) => s.queued],
  ['mqtt_messages_dropped_total', 'counter', 'Messages not delivered, by reason.', (s) => s.dropped],
  ['mqtt_connects_refused_total', 'counter', 'Connections refused before CONNACK success (failed logins among them), by reason.', (s) => s.clients.refused],
  ['mqtt_jwks_fetches_total', 'counter', 'Fetches of MQTT_JWT_JWKS_URL (one subrequest each), by outcome: ok or failed.', (s) => s.jwksFetches],
  ['mqtt_calls_timed_out_total', 'counter', 'Calls to other objects (sharded topology) that missed their deadline, by kind.', (s) => s.callsTimedOut],
  ['mqtt_qos2_copies_recognised_total', 'counter', 'Copies of QoS 2 messages sent again after a restart (sharded topology), recognised and not delivered twice.', (s) => s.copiesRecognised],
  ['mqtt_event_streams', 'gauge', 'Open /api/subscribe streams.', (s) => s.eventStreams],
  ['cloudflare_do_requests_total', 'counter', 'Durable Object requests: HTTP, WebSocket upgrades, alarms.', (s) => s.billing.requests],
  ['cloudflare_do_rpc_calls_total', 'counter', 'RPC calls between the namespace\'s objects (billed as requests).', (s) => s.billing.rpcCalls],
  ['cloudflare_do_websocket_messages_in_total', 'counter', 'Incoming WebSocket messages (billed at 20:1).', (s) => s.billing.websocketMessagesIn],
  ['cloudflare_do_billed_requests_total', 'counter', 'Requests as billed.', (s) => s.billing.billedRequests],
  ['cloudflare_do_sqlite_rows_read_total', 'counter', 'SQLite rows read.', (s) => s.billing.rowsRead],
  ['cloudflare_do_sqlite_rows_written_total', 'counter', 'SQLite rows written.', (s) => s.billing.rowsWritten],
  ['cloudflare_do_active_seconds_total', 'counter', 'Seconds the object could not hibernate (a floor).', (s) => s.billing.activeMs / 1000],
  ['cloudflare_do_gb_seconds_total', 'counter', 'Duration as billed, in GB-s.', (s) => s.billing.gbSeconds],
  ['cloudflare_do_estimated_usd_total', 'counter', 'Estimated cost at list prices, in US dollars.', (s) => s.billing.estimatedUsd],
];

/** Per-rule metrics, one sample per rule, labelled `rule`. */
const ruleMetrics: Array<[name: string, type: 'counter' | 'gauge', help: string, value: (r: Stats['rules'][number]) => number]> = [
  ['mqtt_rule_matched_total', 'counter', 'Messages a rule matched.', (r) => r.matched],
  ['mqtt_rule_delivered_total', 'counter', 'Messages a rule\'s action delivered.', (r) => r.delivered],
  ['mqtt_rule_retried_total', 'counter', 'Failed deliveries of a batch, each retried or dead-lettered.', (r) => r.retried],
  ['mqtt_rule_dead_lettered_total', 'counter', 'Messages moved to a rule\'s dead letters after its tries.', (r) => r.deadLettered],
  ['mqtt_rule_dropped_total', 'counter', 'Matches not recorded because the rule\'s outbox was full (QoS 0, wills).', (r) => r.dropped],
  ['mqtt_rule_refused_total', 'counter', 'Publishes refused with 0x97 because the rule\'s outbox was full.', (r) => r.refused],
  ['mqtt_rule_outbox_messages', 'gauge', 'Messages waiting in a rule\'s outbox.', (r) => r.outbox],
  ['mqtt_rule_dead_letters', 'gauge', 'Messages in a rule\'s dead letters.', (r) => r.deadLetters],
  ['mqtt_rule_lag_seconds', 'gauge', 'Age of the oldest message waiting in a rule\'s outbox.', (r) => r.lagMs / 1000],
];

const label = (value: string): string => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export function prometheus(s: Stats): string {
  const ns = `namespace="${label(s.namespace)}"`;
  const lines: string[] = [];
  for (const [name, type, help, value] of metricTable) {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    const v = value(s);
    if (typeof v === 'number') lines.push(`${name}{${ns}} ${v}`);
    else for (const [reason, n] of Object.entries(v)) lines.push(`${name}{${ns},reason="${label(reason)}"} ${n}`);
  }
  for (const [name, type, help, value] of s.rules.length ? ruleMetrics : []) {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const r of s.rules) lines.push(`${name}{${ns},rule="${label(r.name)}"} ${value(r)}`);
  }
  return `${lines.join('\n')}\n`;
}
