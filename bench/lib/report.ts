// Markdown tables from scenario results: one per scenario, brokers as rows, ratios to Aedes (same
// clients and framing) and to the echo object (same framing; it always gets raw sockets).
import type { Result } from './scenarios.ts';

const fmt = (v: number | undefined, digits = 0): string =>
  v === undefined || Number.isNaN(v) ? '–' : v >= 10_000 ? `${(v / 1000).toFixed(1)} k` : v.toFixed(digits);
const ratio = (v: number | undefined, base: number | undefined): string =>
  v === undefined || !base ? '–' : `${(v / base).toFixed(2)}x`;
const bytes = (v: number | undefined): string => (v === undefined ? '–' : `${(v / 1024).toFixed(1)} KiB`);

export function printTables(results: Result[]): void {
  for (const scenario of [...new Set(results.map((r) => r.scenario))]) {
    const rows = results.filter((r) => r.scenario === scenario);
    console.log(`### ${scenario}\n`);
    if (rows.some((r) => r.connectRate !== undefined)) printState(rows);
    else printFlow(rows);
    console.log('');
  }
}

function printFlow(rows: Result[]): void {
  const base = (name: string, r: Result) => rows.find((x) => x.broker === name && x.framing === r.framing && (name === 'echo' || x.clients === r.clients));
  console.log('| broker | clients | framing | msg/s | vs Aedes | vs echo | p50 ms | p90 ms | p99 ms | CPU s / 100k | lost | dup | reordered |');
  console.log('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    console.log(`| ${r.broker} | ${r.clients ?? '–'} | ${r.framing ?? '–'} | ${fmt(r.rate)} | ${ratio(r.rate, base('aedes', r)?.rate)} | ${ratio(r.rate, base('echo', r)?.rate)} | ` +
      `${fmt(r.p50, 2)} | ${fmt(r.p90, 2)} | ${fmt(r.p99, 2)} | ${fmt(r.cpuPer100k, 2)} | ${r.losses} | ${r.duplicates} | ${r.reordered} |`);
  }
}

function printState(rows: Result[]): void {
  const mosquitto = rows.find((r) => r.broker === 'mosquitto');
  console.log('| broker | connections/s | memory per connection | vs Mosquitto |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const r of rows) {
    console.log(`| ${r.broker} | ${fmt(r.connectRate)} | ${bytes(r.memPerConnection)} | ${ratio(r.memPerConnection, mosquitto?.memPerConnection)} |`);
  }
}
