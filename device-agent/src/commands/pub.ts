// device-agent pub: mosquitto_pub over WebSocket. One message (-m, -f, -n, -s), or one per line
// of stdin (-l); QoS 1/2 publishes are complete before the command exits 0.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Client, OutMessage } from '../client.ts';
import { validateTopicName } from '../codec.ts';
import { CommandError, ExitCode } from '../exit-codes.ts';
import help from '../help/pub.txt';
import type { Io } from '../io.ts';
import { connectionOptions, endpoint, int, logOptions, parse, qos, str, usage, type Values } from '../options.ts';
import { reason } from '../messages.ts';
import { openSession } from '../session.ts';

const options = {
  ...connectionOptions,
  ...logOptions,
  topic: { type: 'string', short: 't' },
  message: { type: 'string', short: 'm' },
  file: { type: 'string', short: 'f' },
  'stdin-line': { type: 'boolean', short: 'l' },
  'stdin-file': { type: 'boolean', short: 's' },
  'null-message': { type: 'boolean', short: 'n' },
  qos: { type: 'string', short: 'q' },
  retain: { type: 'boolean', short: 'r' },
  repeat: { type: 'string' },
  'repeat-delay': { type: 'string' },
} as const;

export async function run(argv: string[], io: Io): Promise<number> {
  const { values: v } = parse(argv, options);
  if (v.help) return void io.stdout.write(help), ExitCode.ok;
  const topic = str(v, 'topic') ?? endpoint(v).topic ?? usage('-t topic is required');
  try {
    validateTopicName(topic);
  } catch (err) {
    usage(`invalid topic "${topic}": ${(err as Error).message}`);
  }
  const source = messageSource(v);
  const template = { topic, qos: qos(v, 'qos'), retain: v.retain === true };
  const payloads = source === 'stdin-line' ? undefined : await readPayload(v, source, io);
  const { client, log } = await openSession(v, io, 'pub', { reconnect: false });
  const failures: string[] = [];
  const send = (payload: Uint8Array) => publish(client, { ...template, payload }, failures);
  try {
    if (payloads) await repeat(v, () => send(payloads));
    else await eachLine(io, (line) => send(line));
  } finally {
    client.stop();
  }
  for (const f of failures) log.error(f);
  return failures.length ? ExitCode.failure : ExitCode.ok;
}

type Source = 'message' | 'file' | 'stdin-line' | 'stdin-file' | 'null-message';

function messageSource(v: Values): Source {
  const given = (['message', 'file', 'stdin-line', 'stdin-file', 'null-message'] as const).filter((k) => v[k] !== undefined);
  if (given.length !== 1) usage('give exactly one of -m, -f, -l, -n, -s');
  return given[0];
}

async function readPayload(v: Values, source: Source, io: Io): Promise<Uint8Array> {
  if (source === 'message') return new TextEncoder().encode(str(v, 'message'));
  if (source === 'null-message') return new Uint8Array(0);
  if (source === 'file') {
    try {
      return readFileSync(str(v, 'file')!);
    } catch (err) {
      throw new CommandError(ExitCode.usage, `-f: ${(err as Error).message}`);
    }
  }
  const chunks: Buffer[] = [];
  for await (const c of io.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function repeat(v: Values, send: () => Promise<void>): Promise<void> {
  const times = int(v, 'repeat', 1, 1);
  const delay = Number(str(v, 'repeat-delay') ?? 0);
  if (!(delay >= 0)) usage('--repeat-delay must be a number of seconds');
  for (let i = 0; i < times; i++) {
    if (i > 0 && delay > 0) await new Promise((r) => setTimeout(r, delay * 1000));
    await send();
  }
}

/** -l: one message per line; QoS 0 lines are not awaited one by one, the rest keep their order. */
async function eachLine(io: Io, send: (line: Uint8Array) => Promise<void>): Promise<void> {
  const inflight: Promise<void>[] = [];
  for await (const line of createInterface({ input: io.stdin, crlfDelay: Infinity })) {
    inflight.push(send(new TextEncoder().encode(line)));
    if (inflight.length >= 64) await inflight.shift();
  }
  await Promise.all(inflight);
}

async function publish(client: Client, msg: OutMessage, failures: string[]): Promise<void> {
  try {
    const code = await client.publish(msg);
    if (code >= 0x80) failures.push(`publish to ${msg.topic} refused: ${reason(code, 'puback')}`);
  } catch (err) {
    throw new CommandError(ExitCode.failure, `publish to ${msg.topic} failed: ${(err as Error).message}`);
  }
}
