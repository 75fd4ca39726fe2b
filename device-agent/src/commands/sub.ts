// device-agent sub: mosquitto_sub over WebSocket. Prints each message (-v: with its topic) until
// -C messages, -W seconds (exit 27) or a signal; reconnects with backoff if the edge drops.
import type { Client } from '../client.ts';
import { validateTopicFilter, type PublishPacket, type Subscription } from '../codec.ts';
import { CommandError, ExitCode } from '../exit-codes.ts';
import help from '../help/sub.txt';
import type { Io } from '../io.ts';
import { connectionOptions, endpoint, int, list, logOptions, parse, qos, usage, type Values } from '../options.ts';
import { reason } from '../messages.ts';
import { aborted, openSession } from '../session.ts';
import { matches } from '../topic-match.ts';

const options = {
  ...connectionOptions,
  ...logOptions,
  topic: { type: 'string', short: 't', multiple: true },
  'filter-out': { type: 'string', short: 'T', multiple: true },
  unsubscribe: { type: 'string', short: 'U', multiple: true },
  qos: { type: 'string', short: 'q' },
  verbose: { type: 'boolean', short: 'v' },
  'no-eol': { type: 'boolean', short: 'N' },
  count: { type: 'string', short: 'C' },
  timeout: { type: 'string', short: 'W' },
  'no-retained': { type: 'boolean', short: 'R' },
  'retained-only': { type: 'boolean' },
  'exit-on-suback': { type: 'boolean', short: 'E' },
} as const;

export async function run(argv: string[], io: Io): Promise<number> {
  const { values: v } = parse(argv, options);
  if (v.help) return void io.stdout.write(help), ExitCode.ok;
  const subscriptions = topics(v);
  const unsubscribe = list(v, 'unsubscribe');
  if (subscriptions.length === 0 && unsubscribe.length === 0) usage('-t topic is required');
  const count = int(v, 'count', 0, 1);
  const timeout = int(v, 'timeout', 0, 1, 3600 * 24 * 365);
  const done = new Outcome(io);
  let printed = 0;
  const onMessage = (p: PublishPacket) => {
    if (done.settled) return;
    const shown = printMessage(p, v, io, () => done.finish(ExitCode.ok));
    if (shown && count && ++printed >= count) done.finish(ExitCode.ok);
  };
  const { client, log } = await openSession(v, io, 'sub', { reconnect: true, subscriptions: [], onMessage });
  client.onDisconnect = (why) => log.warn(`connection lost: ${why}`);
  const timer = timeout ? setTimeout(() => done.finish(ExitCode.timeout, 'Timed out'), timeout * 1000) : undefined;
  try {
    await setUp(client, subscriptions, unsubscribe, v, done);
    log.debug(`subscribed to ${subscriptions.map((x) => x.topicFilter).join(', ') || 'nothing'}`);
    client.opts.subscriptions = subscriptions;
    const code = await Promise.race([done.promise, aborted(io.signal).then(() => ExitCode.ok)]);
    if (done.message) io.stderr.write(`${done.message}\n`);
    return code;
  } finally {
    clearTimeout(timer);
    await new Promise((r) => setImmediate(r));
    client.stop();
  }
}

function topics(v: Values): Subscription[] {
  const e = endpoint(v);
  const filters = [...list(v, 'topic'), ...(e.topic !== undefined ? [e.topic] : [])];
  const q = qos(v, 'qos');
  return filters.map((topicFilter) => {
    try {
      validateTopicFilter(topicFilter);
    } catch (err) {
      usage(`invalid topic filter "${topicFilter}": ${(err as Error).message}`);
    }
    return { topicFilter, qos: q };
  });
}

/** -U first (mosquitto's order), then SUBSCRIBE; -E finishes once the SUBACK is in. */
async function setUp(client: Client, subs: Subscription[], unsubscribe: string[], v: Values, done: Outcome): Promise<void> {
  if (unsubscribe.length > 0) await client.request({ type: 'unsubscribe', topicFilters: unsubscribe });
  if (subs.length > 0) {
    const suback = await client.request({ type: 'subscribe', subscriptions: subs });
    const codes = suback.type === 'suback' ? suback.reasonCodes : [];
    if (codes.length > 0 && codes.every((c) => c >= 0x80)) throw new CommandError(ExitCode.refused, 'All subscription requests were denied.');
    codes.forEach((c, i) => c >= 0x80 && done.warn(`subscription to ${subs[i].topicFilter} denied: ${reason(c, 'suback')}`));
  }
  if (v['exit-on-suback'] || subs.length === 0) done.finish(ExitCode.ok);
}

/** Writes the message unless -T, -R or --retained-only leave it out; true if written. */
function printMessage(p: PublishPacket, v: Values, io: Io, finish: () => void): boolean {
  if (list(v, 'filter-out').some((f) => matches(f, p.topic))) return false;
  if (v['no-retained'] && p.retain) return false;
  if (v['retained-only'] && !p.retain) return finish(), false;
  if (v.verbose) io.stdout.write(`${p.topic} `);
  io.stdout.write(p.payload);
  if (!v['no-eol']) io.stdout.write('\n');
  return true;
}

/** How the command ends: the first finish() wins. */
class Outcome {
  settled = false;
  message?: string;
  private resolve!: (code: number) => void;
  readonly promise = new Promise<number>((r) => (this.resolve = r));

  constructor(private readonly io: Io) {}

  finish(code: number, message?: string): void {
    if (this.settled) return;
    this.settled = true;
    this.message = message;
    this.resolve(code);
  }

  warn(message: string): void {
    this.io.stderr.write(`Warning: ${message}\n`);
  }
}
