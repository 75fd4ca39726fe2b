// The rules scenario: the same publishes with 0, 1 and 10 rules matching each message, one broker
// start per count (the rules come from MQTT_RULES_FILE), so that the ratios to the 0-rules run show
// what the rule engine costs the publish path. Each rule republishes to a topic nobody subscribes
// to: a sink that works offline and costs the broker one more publish, no subrequest. Billed units
// (GET /api/cost) are read before the publishes and after every outbox drained, so the outbox rows
// written, deleted and the alarms that drained them are all counted.
import { awsIotRulesPrices } from '../../src/edge/billing.ts';
import type { RunningBroker } from './brokers.ts';
import { dollars, minus, times, type Units } from './cost.ts';
import { latency, throughput, type Result } from './scenarios.ts';

/** Rules matching every bench message; 0 rules: no MQTT_RULES_FILE. */
export const ruleCounts = [0, 1, 10] as const;

/** `count` rules on `bench/#`, each republishing at QoS 0 to `rules-sink/<i>/<topic>`, outbox at its largest bound. */
export function rulesFile(count: number): string {
  const rules = Array.from({ length: count }, (_, i) => ({
    name: `bench-${i}`, topic: 'bench/#',
    action: { kind: 'republish', topic: `rules-sink/${i}/{topic}`, qos: 0 }, outbox: { messages: 100_000 },
  }));
  return JSON.stringify({ rules });
}

export interface RulesResult {
  broker: string;
  rules: number;
  /** QoS 1 throughput (4 publishers, 1 subscriber; the median run by rate) and low-rate QoS 0 latency, as the other tables measure them. */
  throughput: Result;
  latency: Result;
  /** Messages published by all runs, each matched by every rule. */
  published: number;
  /** Summed over the rules: matched, delivered, dropped, refused (GET /api/rules). */
  counters: RuleCounters;
  /** The median throughput run's: from its last message to every outbox empty (ms; read 4 times a second). All runs' /api/rules reads. */
  drainMs: number;
  polls: number;
  /** Billed units from before the first publish to every outbox drained. */
  units?: Units;
}

interface RuleCounters { matched: number; delivered: number; dropped: number; refused: number; outbox: number }

type RuleView = { counters: { matched: number; delivered: number; dropped: number; refused: number }; outbox: { messages: number } };

async function counters(b: RunningBroker): Promise<RuleCounters> {
  const res = await fetch(`http://${new URL(b.url).host}/api/rules`);
  if (!res.ok) throw new Error(`GET /api/rules answered ${res.status}: ${await res.text()}`);
  const { rules } = (await res.json()) as { rules: RuleView[] };
  const sum = (f: (r: RuleView) => number) => rules.reduce((n, r) => n + f(r), 0);
  return {
    matched: sum((r) => r.counters.matched), delivered: sum((r) => r.counters.delivered), dropped: sum((r) => r.counters.dropped),
    refused: sum((r) => r.counters.refused), outbox: sum((r) => r.outbox.messages),
  };
}

/** Polls /api/rules 4 times a second until every outbox is empty, for at most `limitMs`. */
async function drained(b: RunningBroker, limitMs: number): Promise<{ counters: RuleCounters; polls: number }> {
  const until = Date.now() + limitMs;
  for (let polls = 1; ; polls++) {
    const c = await counters(b);
    if (c.outbox === 0 || Date.now() > until) return { counters: c, polls };
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * On `b`, started with `rules` rules: the low-rate latency run, then `rounds` throughput runs of
 * `messages`, the median by rate kept; after each run every outbox is drained (bounded wait), so
 * that a run starts with empty outboxes and the drain's time is its own.
 */
export async function rulesRun(b: RunningBroker, rules: number, messages: number, lowRate: number, rounds: number): Promise<RulesResult> {
  // the alarm drains at most 30 batches of 100 republished messages a run: a minute and a margin per 10,000 rule-messages
  const drainLimit = 60_000 + rules * messages * 6;
  const units0 = await b.units?.();
  const lat = await latency(b, 'packet', lowRate);
  let polls = (await drained(b, drainLimit)).polls;
  const runs: Array<{ tp: Result; drainMs: number }> = [];
  for (let round = 0; round < rounds; round++) {
    const tp = await throughput(b, 1, 'coalesce', messages);
    const last = Date.now();
    polls += (await drained(b, drainLimit)).polls;
    runs.push({ tp, drainMs: Date.now() - last });
  }
  const { counters: c } = await drained(b, drainLimit);
  const units = units0 && minus(await b.units!(), units0);
  const median = runs.sort((x, y) => (x.tp.rate ?? 0) - (y.tp.rate ?? 0))[Math.floor(runs.length / 2)];
  const published = rounds * Math.ceil(messages / 4) * 4 + lowRate;
  return { broker: b.name, rules, throughput: median.tp, latency: lat, published, counters: c, drainMs: median.drainMs, polls: polls + 1, units };
}

const fmt = (v: number | undefined, digits = 0) => (v === undefined || Number.isNaN(v) ? '–' : v.toFixed(digits));
const ratio = (v: number | undefined, base: number | undefined) => (v === undefined || !base ? '–' : `${(v / base).toFixed(2)}x`);
const sig = (v: number) => (v === 0 ? '0' : v >= 100 ? v.toFixed(0) : v.toPrecision(3));
const usd = (v: number | undefined) => (v === undefined ? '–' : v === 0 ? '$0' : v >= 0.1 ? `$${v.toFixed(2)}` : `$${v.toPrecision(2)}`);

/** Dollars per million published messages at list prices (cost.ts), from a run's units. */
export const perMillion = (r: RulesResult) => r.units && dollars(times(r.units, 1e6 / r.published));

/**
 * What one more rule costs the broker per million messages it matches: the run's dollars less the
 * 0-rules run's in the same topology, over the rules. Undefined without units or a 0-rules run.
 */
export function perRuleMessage(r: RulesResult, all: RulesResult[]): number | undefined {
  const base = all.find((x) => x.broker === r.broker && x.rules === 0);
  const [a, b] = [perMillion(r), base && perMillion(base)];
  return r.rules && a && b ? (a.total - b.total) / r.rules : undefined;
}

/** AWS IoT Core's rules engine per million messages each matched by `rules` rules of one action. */
export const awsRules = (rules: number) => rules * 1e6 * (awsIotRulesPrices.ruleTriggered + awsIotRulesPrices.action);

export function printRules(results: RulesResult[]): void {
  if (!results.length) return;
  console.log('### Publish with 0, 1 and 10 rules matching\n');
  console.log('Each rule matches every message (`bench/#`) and republishes it at QoS 0 to a topic nobody subscribes to. ' +
    'Throughput: QoS 1, 4 publishers, 1 subscriber, coalesced frames; latency: QoS 0, one message every 10 ms. ' +
    'Throughput: the median of the runs by rate; each run starts with empty outboxes, and "drain s" is how long its outboxes took to empty after its last message (read 4 times a second), ' +
    '"rule-msgs/s incl. drain" the rule deliveries of that run over its publish time plus its drain. ' +
    'Units from GET /api/cost, from before the first publish to every outbox drained (the bench\'s own reads of /api/rules and /api/cost included), per message published.\n');
  console.log('| broker | rules | msg/s | vs 0 rules | p50 ms | p99 ms | low-rate p50 ms | vs 0 rules | low-rate p99 ms | lost | matched / expected | delivered | dropped / refused | drain s | rule-msgs/s incl. drain | rows written / msg | rows read / msg | billed requests / msg | GB-s / M msgs | $ / M msgs | vs 0 rules | $ / M rule-msgs | AWS IoT Core rules $ / M msgs |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of results) {
    const base = results.find((x) => x.broker === r.broker && x.rules === 0);
    const [tp, lat, c, u] = [r.throughput, r.latency, r.counters, r.units];
    const d = perMillion(r);
    const lost = tp.losses + lat.losses;
    console.log(`| ${r.broker} | ${r.rules} | ${fmt(tp.rate)} | ${ratio(tp.rate, base?.throughput.rate)} | ${fmt(tp.p50, 1)} | ${fmt(tp.p99, 1)} | ` +
      `${fmt(lat.p50, 2)} | ${ratio(lat.p50, base?.latency.p50)} | ${fmt(lat.p99, 2)} | ${lost} | ${c.matched} / ${r.published * r.rules} | ${c.delivered} | ${c.dropped} / ${c.refused} | ` +
      `${fmt(r.drainMs / 1000, 1)} | ${r.rules ? fmt((r.rules * (tp.rate ?? 0) * tp.durationMs) / (tp.durationMs + r.drainMs)) : '–'} | ${u ? sig(u.rowsWritten / r.published) : '–'} | ${u ? sig(u.rowsRead / r.published) : '–'} | ${d ? sig(d.billedRequests / 1e6) : '–'} | ` +
      `${d ? sig(d.gbSeconds) : '–'} | **${usd(d?.total)}** | ${ratio(d?.total, base && perMillion(base)?.total)} | ${usd(perRuleMessage(r, results))} | ${usd(awsRules(r.rules))} |`);
  }
  console.log('');
}
