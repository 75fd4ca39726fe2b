// What an idle device costs: connections that only keep themselves alive, with MQTT PINGREQ at a
// keepalive and optionally WebSocket pings (RFC 6455 5.5.2, which the runtime answers itself),
// metered by the broker's own counters (GET /api/cost) over a period, in a namespace of its own.
// A fleet of `fleet` devices is played by `sockets` connections, each sending `fleet / sockets`
// devices' pings spread evenly: the object sees the same stream of events as the real fleet would.
import type WebSocket from 'ws';
import { Decoder, encode } from '../../src/protocol/index.ts';
import type { RunningBroker } from './brokers.ts';
import { openRaw } from './clients.ts';
import { minus, type Units } from './cost.ts';
import type { Result } from './scenarios.ts';

export interface IdleProfile {
  /** Devices the namespace's objects hold. */
  fleet: number;
  /** Connections playing them (at most `fleet`). */
  sockets: number;
  /** MQTT keepalive in CONNECT, seconds; each device sends PINGREQ that often. */
  keepalive: number;
  /** WebSocket ping interval per device, seconds; 0 sends none. */
  wsPing: number;
  /** Real time the fleet is held and metered, ms. */
  periodMs: number;
}

export interface IdleCost {
  profile: IdleProfile;
  units: Units;
  pingreqs: number;
  pingresps: number;
  wsPings: number;
  pongs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let runId = 0;

/** An MQTT 3.1.1 connection with keepalive `keepalive`, counting PINGRESPs and pongs. */
async function device(url: string, keepalive: number, seen: { pingresps: number; pongs: number }): Promise<WebSocket> {
  const ws = await openRaw(url, 'peer');
  const decoder = new Decoder({ protocolVersion: 4 });
  const connack = new Promise<void>((resolve, reject) => {
    ws.on('message', (data: Buffer) => {
      decoder.push(data);
      for (let p = decoder.next(); p; p = decoder.next()) {
        if (p.type === 'connack') (p.reasonCode === 0 ? resolve() : reject(new Error(`CONNACK ${p.reasonCode}`)));
        if (p.type === 'pingresp') seen.pingresps++;
      }
    });
  });
  ws.on('pong', () => seen.pongs++);
  ws.send(encode({ type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: true, keepalive, clientId: `idle-${process.pid}-${++runId}` }, 4));
  await connack;
  return ws;
}

/**
 * Sends `send(socket)` every `perSocketMs` on each socket from `t0` until `endMs` after it, the
 * sockets' phases spread evenly; returns how many were sent from `fromMs` on.
 */
async function cadence(sockets: WebSocket[], perSocketMs: number, t0: number, fromMs: number, endMs: number, send: (ws: WebSocket) => void): Promise<number> {
  if (!Number.isFinite(perSocketMs)) return 0;
  const events: Array<{ at: number; ws: WebSocket }> = [];
  sockets.forEach((ws, i) => {
    for (let at = ((i + 0.5) * perSocketMs) / sockets.length; at < endMs; at += perSocketMs) events.push({ at, ws });
  });
  events.sort((a, b) => a.at - b.at);
  for (const e of events) {
    const wait = t0 + e.at - Date.now();
    if (wait > 0) await sleep(wait);
    if (e.ws.readyState === e.ws.OPEN) send(e.ws);
  }
  return events.filter((e) => e.at >= fromMs).length;
}

/** Holds the fleet for the period and reads what its namespace was billed meanwhile. */
export async function idleFleet(b: RunningBroker, namespace: string, profile: IdleProfile): Promise<IdleCost> {
  const { fleet, sockets: count, keepalive, wsPing, periodMs } = profile;
  const url = b.url.replace(/\/mqtt$/, `/mqtt/${namespace}`);
  const seen = { pingresps: 0, pongs: 0 };
  const sockets: WebSocket[] = [];
  while (sockets.length < count) {
    const batch = Array.from({ length: Math.min(50, count - sockets.length) }, () => device(url, keepalive, seen));
    sockets.push(...(await Promise.all(batch)));
  }
  // the first reading creates the objects nobody called yet (a sharded namespace's shards); their
  // tables' and the connects' meter saves land within 1 to 5 s
  await b.units!(namespace);
  await sleep(7_000);
  // the pings run from here; the keepalive checks reach their steady rhythm (an alarm at 1.5x the
  // keepalive after a connection's last packet) before the period starts, for keepalives up to 60 s
  const warmMs = keepalive <= 60 ? (1.5 * keepalive + 3) * 1000 : 0;
  const t0 = Date.now();
  // each socket carries fleet / count devices: its events come that much more often
  const every = (seconds: number) => (seconds > 0 ? (seconds * 1000 * count) / fleet : Infinity);
  const sent = Promise.all([
    cadence(sockets, every(keepalive), t0, warmMs, warmMs + periodMs, (ws) => ws.send(encode({ type: 'pingreq' }, 4))),
    cadence(sockets, every(wsPing), t0, warmMs, warmMs + periodMs, (ws) => ws.ping()),
  ]);
  await sleep(warmMs);
  const before = await b.units!(namespace);
  const counted = { ...seen };
  const [pingreqs, wsPings] = await sent;
  await sleep(Math.max(0, t0 + warmMs + periodMs - Date.now()));
  const units = minus(await b.units!(namespace), before);
  sockets.forEach((ws) => ws.close());
  return { profile, units, pingreqs, wsPings, pingresps: seen.pingresps - counted.pingresps, pongs: seen.pongs - counted.pongs };
}

/** The bench's idle rows: `fleet` and `alone` (one device in its namespace), before and after. */
export async function idleDevices(b: RunningBroker, name: string, profile: IdleProfile): Promise<Result> {
  const t0 = Date.now();
  const cost = await idleFleet(b, `idle-${process.pid}-${++runId}`, profile);
  return { scenario: `idle devices: ${name}`, broker: b.name, durationMs: Date.now() - t0, losses: cost.pingreqs - cost.pingresps, duplicates: 0, reordered: 0, idle: cost };
}
