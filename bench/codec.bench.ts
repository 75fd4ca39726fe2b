// Codec throughput, this codec vs mqtt-packet in the same run: decode and encode of PUBLISH
// (16 B, 256 B, 4 KiB payloads; QoS 0 and 1), SUBSCRIBE and PUBACK on MQTT 3.1.1, plus a v5
// PUBLISH with properties. Decode feeds one packet per chunk, as WebSocket messages arrive.
// Each case warms up, calibrates a fixed iteration count, then reports the best of several
// rounds. Run: npm run bench:codec  (node 22 strips the types). Prints a markdown table.
import { Buffer } from 'node:buffer';
import { cpus } from 'node:os';
import mqtt from 'mqtt-packet';
import { Decoder, encode, type Packet, type ProtocolVersion } from '../src/protocol/index.ts';

const rounds = Number(process.env.BENCH_ROUNDS ?? 7);
const roundMs = Number(process.env.BENCH_ROUND_MS ?? 150);

interface Case {
  name: string;
  version: ProtocolVersion;
  packet: Packet;
  /** The same packet in mqtt-packet's model. */
  theirs: mqtt.Packet;
}

function publishCase(payloadSize: number, qos: 0 | 1): Case {
  const payload = new Uint8Array(payloadSize).fill(0x61);
  const topic = 'devices/sensor-0042/telemetry';
  return {
    name: `PUBLISH QoS ${qos} ${payloadSize >= 1024 ? `${payloadSize / 1024} KiB` : `${payloadSize} B`}`,
    version: 4,
    packet: { type: 'publish', topic, payload, qos, retain: false, dup: false, packetId: qos ? 42 : undefined },
    theirs: { cmd: 'publish', topic, payload: Buffer.from(payload), qos, retain: false, dup: false, messageId: qos ? 42 : undefined },
  };
}

const v5Payload = new Uint8Array(256).fill(0x62);
const cases: Case[] = [
  ...[16, 256, 4096].flatMap((size) => [publishCase(size, 0), publishCase(size, 1)]),
  {
    name: 'PUBLISH QoS 1 256 B v5 (3 properties)',
    version: 5,
    packet: {
      type: 'publish', topic: 'devices/sensor-0042/telemetry', payload: v5Payload, qos: 1, retain: false, dup: false, packetId: 7,
      properties: { contentType: 'application/json', messageExpiryInterval: 3600, userProperties: [['site', 'lyon']] },
    },
    theirs: {
      cmd: 'publish', topic: 'devices/sensor-0042/telemetry', payload: Buffer.from(v5Payload), qos: 1, retain: false, dup: false, messageId: 7,
      properties: { contentType: 'application/json', messageExpiryInterval: 3600, userProperties: { site: 'lyon' } },
    },
  },
  {
    name: 'SUBSCRIBE (2 filters)',
    version: 4,
    packet: { type: 'subscribe', packetId: 3, subscriptions: [{ topicFilter: 'devices/+/telemetry', qos: 1 }, { topicFilter: 'alerts/#', qos: 0 }] },
    theirs: { cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 'devices/+/telemetry', qos: 1 }, { topic: 'alerts/#', qos: 0 }] },
  },
  { name: 'PUBACK', version: 4, packet: { type: 'puback', packetId: 42 }, theirs: { cmd: 'puback', messageId: 42 } },
];

let sink = 0;

/** Best ops/s over the rounds, after a warm-up that also picks the iteration count. */
function measure(op: () => void): number {
  let n = 0;
  const warm = performance.now();
  while (performance.now() - warm < roundMs * 2) {
    for (let i = 0; i < 100; i++) op();
    n += 100;
  }
  const iterations = Math.max(100, Math.round((n / (roundMs * 2)) * roundMs));
  let best = 0;
  for (let r = 0; r < rounds; r++) {
    const start = performance.now();
    for (let i = 0; i < iterations; i++) op();
    best = Math.max(best, iterations / ((performance.now() - start) / 1000));
  }
  return best;
}

function ours(c: Case, bytes: Uint8Array) {
  const decoder = new Decoder({ protocolVersion: c.version });
  return {
    decode: () => {
      decoder.push(bytes);
      for (let p = decoder.next(); p; p = decoder.next()) sink += p.type.length;
    },
    encode: () => {
      sink += encode(c.packet, c.version).length;
    },
  };
}

function theirs(c: Case, bytes: Uint8Array) {
  const parser = mqtt.parser({ protocolVersion: c.version });
  parser.on('packet', (p: mqtt.Packet) => (sink += p.cmd.length));
  parser.on('error', (e: Error) => {
    throw e;
  });
  const buffer = Buffer.from(bytes);
  return {
    decode: () => {
      parser.parse(buffer);
    },
    encode: () => {
      sink += mqtt.generate(c.theirs, { protocolVersion: c.version }).length;
    },
  };
}

const fmt = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : `${(n / 1e3).toFixed(0)} k`);
const mb = (ops: number, size: number) => ((ops * size) / 1e6).toFixed(0);

const rows: string[] = [];
for (const c of cases) {
  const bytes = encode(c.packet, c.version);
  const generated = mqtt.generate(c.theirs, { protocolVersion: c.version });
  if (Buffer.compare(Buffer.from(bytes), generated) !== 0) throw new Error(`${c.name}: the two codecs disagree on the bytes`);
  const a = ours(c, bytes);
  const b = theirs(c, bytes);
  for (const op of ['decode', 'encode'] as const) {
    const mine = measure(a[op]);
    const other = measure(b[op]);
    rows.push(`| ${c.name} | ${bytes.length} | ${op} | ${fmt(mine)} | ${mb(mine, bytes.length)} | ${fmt(other)} | ${mb(other, bytes.length)} | **${(mine / other).toFixed(2)}x** |`);
    process.stderr.write(`${rows.at(-1)}\n`);
  }
}

console.log(`Node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), ${new Date().toISOString().slice(0, 10)}`);
console.log(`best of ${rounds} rounds of ~${roundMs} ms each, after warm-up; decode = one packet per chunk\n`);
console.log('| packet | bytes | op | this codec pkt/s | MB/s | mqtt-packet pkt/s | MB/s | ratio |');
console.log('| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |');
for (const row of rows) console.log(row);
if (sink === 0) console.log('(sink)');
