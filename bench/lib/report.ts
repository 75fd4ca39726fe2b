// Markdown tables from scenario results: one per scenario, brokers as rows, ratios to Aedes (same
// clients and framing) and to the echo object (same framing; it always gets raw sockets).
import { aws, cpuDollars, dollars, minutesPerMonth, times } from './cost.ts';
import type { IdleCost } from './idle-scenarios.ts';
import type { Cost, Result } from './scenarios.ts';

const fmt = (v: number | undefined, digits = 0): string =>
  v === undefined || Number.isNaN(v) ? '–' : v >= 10_000 ? `${(v / 1000).toFixed(1)} k` : v.toFixed(digits);
const ratio = (v: number | undefined, base: number | undefined): string =>
  v === undefined || !base ? '–' : `${(v / base).toFixed(2)}x`;
const bytes = (v: number | undefined): string => (v === undefined ? '–' : `${(v / 1024).toFixed(1)} KiB`);

export function printTables(results: Result[]): void {
  for (const scenario of [...new Set(results.filter((r) => !r.idle).map((r) => r.scenario))]) {
    const rows = results.filter((r) => r.scenario === scenario);
    console.log(`### ${scenario}\n`);
    if (rows.some((r) => r.connectRate !== undefined)) printState(rows);
    else printFlow(rows);
    console.log('');
  }
}

/** Ratio columns: Aedes and the default topology with the same clients and framing, the echo object with the same framing. */
const isEdge = (r: Result) => r.broker.startsWith('edge-');

function printFlow(rows: Result[]): void {
  const base = (name: string, r: Result) => rows.find((x) => x.broker === name && x.framing === r.framing && (name === 'echo' || x.clients === r.clients));
  console.log('| broker | clients | framing | msg/s | vs Aedes | vs echo | vs default | p50 ms | p90 ms | p99 ms | p50 vs default | CPU s / 100k | lost | dup | reordered |');
  console.log('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    const edge = isEdge(r) ? base('edge-mqtt', r) : undefined;
    console.log(`| ${r.broker} | ${r.clients ?? '–'} | ${r.framing ?? '–'} | ${fmt(r.rate)} | ${ratio(r.rate, base('aedes', r)?.rate)} | ${ratio(r.rate, base('echo', r)?.rate)} | ` +
      `${ratio(r.rate, edge?.rate)} | ${fmt(r.p50, 2)} | ${fmt(r.p90, 2)} | ${fmt(r.p99, 2)} | ${ratio(r.p50, edge?.p50)} | ${fmt(r.cpuPer100k, 2)} | ${r.losses} | ${r.duplicates} | ${r.reordered} |`);
  }
}

function printState(rows: Result[]): void {
  const mosquitto = rows.find((r) => r.broker === 'mosquitto');
  const edge = rows.find((r) => r.broker === 'edge-mqtt');
  console.log('| broker | connections/s | memory per connection | vs Mosquitto | vs default |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    console.log(`| ${r.broker} | ${fmt(r.connectRate)} | ${bytes(r.memPerConnection)} | ${ratio(r.memPerConnection, mosquitto?.memPerConnection)} | ` +
      `${isEdge(r) ? ratio(r.memPerConnection, edge?.memPerConnection) : '–'} |`);
  }
}

const sig = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? '–' : Number(v.toPrecision(3)).toString());
const usd = (v: number | undefined): string => (v === undefined ? '–' : `$${sig(v)}`);

/** The edge broker's cost tables: per million delivered messages, per device-month, and the sharded topology's batching. */
export function printCost(results: Result[]): void {
  const rows = results.filter((r): r is Result & { cost: Cost } => r.cost !== undefined && r.cost.delivered > 0);
  if (!rows.length) return;
  const perMillion = (r: Result & { cost: Cost }) => dollars(times(r.cost.units, 1e6 / r.cost.delivered));
  const same = (a: Result, b: Result) => a.scenario === b.scenario && a.framing === b.framing && a.clients === b.clients;
  console.log('### Cost per million delivered messages\n');
  console.log('| broker | scenario | clients | framing | msg/s | billed requests / msg | RPC calls / msg | WebSocket msgs in / msg | rows written / msg | GB-s / M msgs | $ / M msgs | vs default | requests | duration | rows | duration at CPU time | AWS IoT Core $ / M msgs |');
  console.log('| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    const { units, delivered, awsMessages } = r.cost;
    const perM = perMillion(r);
    const edge = rows.find((x) => x.broker === 'edge-mqtt' && same(x, r));
    console.log(`| ${r.broker} | ${r.scenario} | ${r.clients ?? '–'} | ${r.framing ?? '–'} | ${fmt(delivered / (r.durationMs / 1000))} | ` +
      `${sig(perM.billedRequests / 1e6)} | ${sig(units.rpcCalls / delivered)} | ${sig(units.websocketMessagesIn / delivered)} | ${sig(units.rowsWritten / delivered)} | ` +
      `${sig(perM.gbSeconds)} | **${usd(perM.total)}** | ${ratio(perM.total, edge && perMillion(edge).total)} | ${usd(perM.requests)} | ${usd(perM.duration)} | ${usd(perM.rows)} | ` +
      `${usd(r.cpuPer100k === undefined ? undefined : cpuDollars(r.cpuPer100k * 10))} | ${usd(awsMessages === undefined ? undefined : (awsMessages / delivered) * 1e6 * aws.message)} |`);
  }
  console.log('');
  const profiles = rows.filter((r) => r.cost.deviceMinutes);
  if (profiles.length) {
    console.log('### Cost per connected device-month (keepalive 60 s, one QoS 1 message a minute)\n');
    console.log('| broker | devices run | load of | WebSocket msgs in | billed requests | RPC calls | rows written | GB-s | $ / device-month | vs default | requests | duration | rows | duration at CPU time | AWS IoT Core $ | AWS / edge |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    const monthly = (r: Result & { cost: Cost }) => dollars(times(r.cost.units, minutesPerMonth / (r.cost.deviceMinutes ?? 1))).total;
    const edge = profiles.find((r) => r.broker === 'edge-mqtt');
    for (const r of profiles) {
      const { units, devices, deviceMinutes = 1, fleet, delivered, awsMessages = 0 } = r.cost;
      const cpu = ((r.cpuPer100k ?? NaN) / 1e5) * delivered * (minutesPerMonth / deviceMinutes);
      const month = times(units, minutesPerMonth / deviceMinutes);
      const d = dollars(month);
      const awsUsd = ((awsMessages * minutesPerMonth) / deviceMinutes) * aws.message + minutesPerMonth * aws.connectionMinute;
      console.log(`| ${r.broker} | ${devices} | ${fmt(fleet)} devices | ${sig(month.websocketMessagesIn)} | ${sig(d.billedRequests)} | ${sig(month.rpcCalls)} | ` +
        `${sig(month.rowsWritten)} | ${sig(d.gbSeconds)} | **${usd(d.total)}** | ${ratio(d.total, edge && monthly(edge))} | ${usd(d.requests)} | ${usd(d.duration)} | ${usd(d.rows)} | ${usd(cpuDollars(cpu))} | ${usd(awsUsd)} | ${ratio(awsUsd, d.total)} |`);
    }
    console.log('');
  }
  const batched = rows.filter((r) => r.cost.units.rpcCalls > 0).sort((a, b) => a.cost.delivered / a.durationMs - b.cost.delivered / b.durationMs);
  if (batched.length) {
    console.log('### Billed RPC calls (RPC sessions opened) per delivered message as load rises (sharded topology)\n');
    console.log('| broker | scenario | clients | framing | msg/s | RPC calls / msg | billed requests / msg | $ / M msgs |');
    console.log('| --- | --- | --- | --- | ---: | ---: | ---: | ---: |');
    for (const r of batched) {
      const { units, delivered } = r.cost;
      const perM = dollars(times(units, 1e6 / delivered));
      console.log(`| ${r.broker} | ${r.scenario} | ${r.clients ?? '–'} | ${r.framing ?? '–'} | ${fmt(delivered / (r.durationMs / 1000))} | ${sig(units.rpcCalls / delivered)} | ` +
        `${sig(perM.billedRequests / 1e6)} | ${usd(perM.total)} |`);
    }
    console.log('');
  }
}

/**
 * How the way the broker is started changes what it does (lib/start-modes.ts): the QoS 0 and 1
 * throughput of each way against the fastest MQTT one for the same QoS and framing, then the
 * memory per idle connection under `wrangler dev`.
 */
export function printStartModes(results: Result[]): void {
  const flows = results.filter((r) => r.rate !== undefined);
  if (!flows.length) return;
  const fastest = (r: Result) => Math.max(...flows.filter((x) => !x.broker.startsWith('echo') && x.scenario === r.scenario && x.framing === r.framing).map((x) => x.rate ?? 0));
  console.log('### How the broker is started\n');
  console.log('| started as | scenario | clients | framing | msg/s | vs fastest MQTT | p50 ms | p99 ms | CPU s / 100k | lost | dup | reordered |');
  console.log('| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of flows) {
    console.log(`| ${r.broker} | ${r.scenario} | ${r.clients ?? '–'} | ${r.framing ?? '–'} | ${fmt(r.rate)} | ${r.broker.startsWith('echo') ? '–' : ratio(r.rate, fastest(r))} | ` +
      `${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${fmt(r.cpuPer100k, 2)} | ${r.losses} | ${r.duplicates} | ${r.reordered} |`);
  }
  console.log('');
  const state = results.filter((r) => r.connectRate !== undefined);
  if (!state.length) return;
  console.log(`### ${state[0].scenario}, under wrangler dev\n`);
  printState(state);
  console.log('');
}

/**
 * What one idle device costs a month: the units its namespace was billed over the period, times
 * the months in it, over the devices. PINGREQ/PINGRESP and ping/pong count what was sent and answered.
 */
export function printIdle(results: Result[]): void {
  const rows = results.filter((r): r is Result & { idle: IdleCost } => r.idle !== undefined);
  if (!rows.length) return;
  console.log('### Cost per idle device-month\n');
  console.log('| broker | profile | devices (connections) | keepalive s | WebSocket ping s | period s | PINGREQ sent / answered | pings sent / pongs | WebSocket msgs in | requests | rows written | rows read | active ms | $ / device-month | requests | duration | rows |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    const { profile: p, units: u } = r.idle;
    const d = dollars(times(u, (minutesPerMonth * 60_000) / p.periodMs / p.fleet));
    console.log(`| ${r.broker} | ${r.scenario.replace(/^idle devices: /, '')} | ${p.fleet} (${p.sockets}) | ${p.keepalive} | ${p.wsPing ? sig(p.wsPing) : '–'} | ${p.periodMs / 1000} | ` +
      `${r.idle.pingreqs} / ${r.idle.pingresps} | ${r.idle.wsPings} / ${r.idle.pongs} | ${u.websocketMessagesIn} | ${u.requests + u.rpcCalls} | ${u.rowsWritten} | ${u.rowsRead} | ${u.activeMs} | ` +
      `**${usd(d.total)}** | ${usd(d.requests)} | ${usd(d.duration)} | ${usd(d.rows)} |`);
  }
  console.log('');
}
