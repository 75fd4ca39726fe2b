// What delivering a million matched messages to each kind of rule action costs at Cloudflare's
// list prices (src/edge/billing.ts), next to AWS IoT Core's rules engine. Arithmetic from the
// actions' own batching (src/rules/actions/*), and the broker's side measured by the rules
// scenario (rules-scenarios.ts) when it ran.
import { awsIotRulesPrices, prices, sinkPrices } from '../../src/edge/billing.ts';
import { perRuleMessage, type RulesResult } from './rules-scenarios.ts';

export interface SinkCase {
  action: string;
  /** How the action's units are counted. */
  basis: string;
  /** Sink's own dollars per million messages. */
  sink: number;
  /** Dollars per million messages kept a month (storage), when the sink stores them. */
  storedMonth?: number;
}

const million = 1e6;
/** One message's record as the Queue and R2 actions write it: a 64-byte payload and its fields (fields.ts messageRecord). */
export const recordBytes = 200;

export function sinkCases(): SinkCase[] {
  const gb = (million * recordBytes) / 1e9;
  return [
    { action: 'queue', basis: '1 Queue message each: write + read + delete = 3 operations (≤ 64 KB)', sink: million * 3 * sinkPrices.queueOperation },
    ...[100, 1_000, 10_000].map((perObject) => ({
      action: `r2, ${perObject.toLocaleString('en-US')} messages per object`, basis: `1 PutObject per ${perObject.toLocaleString('en-US')} (topic prefix x window)`,
      sink: (million / perObject) * sinkPrices.r2ClassA, storedMonth: gb * sinkPrices.r2GbMonth,
    })),
    { action: 'd1', basis: '1 row written each', sink: million * sinkPrices.d1RowWritten, storedMonth: gb * sinkPrices.d1GbMonth },
    { action: 'd1, UNIQUE (topic, seq) for replays', basis: '1 row + 1 index row written each', sink: million * 2 * sinkPrices.d1RowWritten, storedMonth: gb * sinkPrices.d1GbMonth },
    { action: 'analytics-engine', basis: '1 data point each', sink: million * sinkPrices.analyticsDataPoint },
  ];
}

const usd = (v: number) => (v >= 0.1 ? `$${v.toFixed(2)}` : `$${v.toPrecision(2)}`);

/**
 * The broker's side for a message one rule matches, as assumed until the rule engine is measured:
 * one SQLite row written into the outbox and one deleted (a delete is billed as a row written),
 * and a drain (one alarm: a request) per batch of `batch` messages. The row is shared by every rule
 * the message matches: each more rule adds its state row once per batch, not two rows a message.
 */
export function outboxCost(batch: number): number {
  return million * (2 * prices.rowWritten) + (million / batch) * prices.request;
}

/** The measured broker side per rule-message of each run with rules (rules-scenarios.ts), in $ per million. */
function measuredOutbox(rules: RulesResult[]): Array<{ label: string; usd: number }> {
  return rules.flatMap((r) => {
    const v = perRuleMessage(r, rules);
    return v === undefined ? [] : [{ label: `${r.broker}, ${r.rules} rule${r.rules > 1 ? 's' : ''}`, usd: v }];
  });
}

/** The table; with the rules scenario's runs, one more column per run: the sink plus the broker's side as measured. */
export function printSinkCost(rules: RulesResult[] = []): void {
  const aws = million * (awsIotRulesPrices.ruleTriggered + awsIotRulesPrices.action);
  const measured = measuredOutbox(rules);
  console.log('### Rule actions: cost per million delivered messages\n');
  console.log(`List prices, no free tier; ${recordBytes}-byte records (a 64-byte payload); the broker's outbox assumed at 2 rows written per message and one alarm per 100 (${usd(outboxCost(100))}; the message's rows are shared by every rule it matches).` +
    (measured.length ? ' "+ measured" columns: the sink plus what one more matching rule cost the broker per message in the rules scenario (its $ less the 0-rules run\'s, over the rules: outbox rows written and deleted, alarms, the republish, duration).' : '') + '\n');
  console.log(`| action | counted as | sink $ / M msgs | + outbox | ${measured.map((m) => `+ measured (${m.label}) | `).join('')}stored a month $ / M msgs | AWS IoT Core rules $ / M msgs (+ the target's own price) |`);
  console.log(`| --- | --- | ---: | ---: | ${measured.map(() => '---: | ').join('')}---: | ---: |`);
  for (const c of sinkCases()) {
    console.log(`| ${c.action} | ${c.basis} | ${usd(c.sink)} | **${usd(c.sink + outboxCost(100))}** | ${measured.map((m) => `${usd(c.sink + m.usd)} | `).join('')}` +
      `${c.storedMonth === undefined ? '–' : usd(c.storedMonth)} | ${usd(aws)} |`);
  }
  console.log('');
}
