// The seeded kill -9 loop shared by the tunnel and bridge cases: a device (MQTT.js) publishes
// numbered QoS 1/2 messages through the agent, which is SIGKILLed at seeded random moments and
// started again; a watcher on the edge counts what arrives. Every count is exact: sent,
// acknowledged to the device (PUBACK / PUBCOMP), delivered, lost, duplicated, out of order.
import mqtt from 'mqtt';
import { sleep } from './procs.mjs';

/** Seeded PRNG (mulberry32): the same seed gives the same kill times, QoS and rounds. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function newLedger() {
  return { next: 1, sent: new Map(), acked: new Map() };
}

/**
 * One round: connects a device to `port`, publishes `<prefix><n>` on `topic` (QoS 1 or 2 by the
 * PRNG, up to 4 in flight, 5-20 ms apart) until the connection drops (the agent was killed) or `untilMs` passes.
 */
export async function publishRound(port, topic, ledger, rand, untilMs, max = 60) {
  const device = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: `kill-dev-${process.pid}`, clean: true, reconnectPeriod: 0, connectTimeout: 5_000 });
  let closed = false;
  device.on('close', () => (closed = true));
  device.on('error', () => {});
  const connected = await Promise.race([new Promise((r) => device.once('connect', () => r(true))), sleep(5_000).then(() => false)]);
  const inflight = new Set();
  const last = ledger.next + max;
  while (connected && !closed && Date.now() < untilMs) {
    if (ledger.next >= last) await sleep(50);
    while (inflight.size < 4 && !closed && ledger.next < last) {
      const n = ledger.next++;
      const qos = rand() < 0.5 ? 1 : 2;
      ledger.sent.set(n, qos);
      const p = device.publishAsync(topic, `k${n}`, { qos }).then(() => ledger.acked.set(n, qos), () => {});
      inflight.add(p);
      p.finally(() => inflight.delete(p));
      await sleep(5 + Math.floor(rand() * 15)); // spread over the round, so kills land mid-publish too
    }
    await Promise.race([...inflight, sleep(50)]);
  }
  device.end(true);
}

/**
 * What arrived against what was acknowledged. `perQos`: order is checked among the QoS 1 and among
 * the QoS 2 messages apart (a broker such as mosquitto passes a QoS 2 message on only at PUBREL,
 * so it may follow QoS 1 messages sent after it).
 */
export function tally(ledger, items, { perQos = false } = {}) {
  const seen = new Map();
  const order = [];
  for (const m of items) {
    const n = Number(m.payload.slice(1));
    seen.set(n, (seen.get(n) ?? 0) + 1);
    if (seen.get(n) === 1) order.push(n);
  }
  const lost = [...ledger.acked.keys()].filter((n) => !seen.has(n));
  const qos2Twice = [...seen].filter(([n, c]) => c > 1 && ledger.sent.get(n) === 2).map(([n]) => n);
  const qos1Twice = [...seen].filter(([n, c]) => c > 1 && ledger.sent.get(n) === 1).length;
  const inOrder = (list) => list.filter((n, i) => i > 0 && n < list[i - 1]);
  const outOfOrder = perQos ? [1, 2].flatMap((q) => inOrder(order.filter((n) => ledger.sent.get(n) === q))) : inOrder(order);
  return { sent: ledger.sent.size, acked: ledger.acked.size, delivered: seen.size, lost, qos2Twice, qos1Twice, outOfOrder };
}
