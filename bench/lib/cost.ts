// What the edge broker's traffic costs: its billed units read from GET /api/cost, the difference
// over a scenario, dollars at Cloudflare's list prices, and AWS IoT Core's price for the same
// traffic as an anchor.

import { objectGb, prices, type Units } from '../../src/edge/billing.ts';

export type { Units };

const names = ['requests', 'rpcCalls', 'websocketMessagesIn', 'rowsRead', 'rowsWritten', 'activeMs'] as const;

/** Units as billed, and their dollars: requests (RPC calls and WebSocket messages in at 20:1 among them), duration, SQLite rows. */
export function dollars(u: Units) {
  const billedRequests = u.requests + u.rpcCalls + u.websocketMessagesIn / 20;
  const gbSeconds = (u.activeMs / 1000) * objectGb;
  const requests = billedRequests * prices.request;
  const duration = gbSeconds * prices.gbSecond;
  const rows = u.rowsWritten * prices.rowWritten + u.rowsRead * prices.rowRead;
  return { billedRequests, gbSeconds, requests, duration, rows, total: requests + duration + rows };
}

/**
 * Duration dollars if every CPU second of the broker's processes (workerd, and wrangler's dev proxy
 * every frame crosses) were an object's billed second: a pessimistic figure next to the meter's
 * active time, which misses synchronous work (the runtime's clock only moves on I/O).
 */
export const cpuDollars = (cpuSeconds: number): number => cpuSeconds * objectGb * prices.gbSecond;

/** The namespace's units so far, every object and role summed. */
export async function readUnits(port: number, namespace = 'default'): Promise<Units> {
  const res = await fetch(`http://127.0.0.1:${port}/api/cost?ns=${namespace}`);
  if (!res.ok) throw new Error(`GET /api/cost answered ${res.status}: ${await res.text()}`);
  const { total } = (await res.json()) as { total: Units };
  const units = Object.fromEntries(names.map((k) => [k, total[k]])) as unknown as Units;
  return units;
}

/** Units from reading `b` to reading `a`. A unit never falls unless an object lost units it had not saved: warned about, counted as 0. */
export function minus(a: Units, b: Units): Units {
  return Object.fromEntries(names.map((k) => {
    if (a[k] < b[k]) console.error(`  warning: the broker's ${k} fell from ${b[k]} to ${a[k]}`);
    return [k, Math.max(0, a[k] - b[k])];
  })) as unknown as Units;
}
export const times = (u: Units, f: number): Units => Object.fromEntries(names.map((k) => [k, u[k] * f])) as unknown as Units;

/** A device-month: 30 days of minutes. */
export const minutesPerMonth = 30 * 24 * 60;

/** AWS IoT Core's list prices (US East), no free tier. */
export const aws = { message: 1 / 1e6, connectionMinute: 0.08 / 1e6 };

/**
 * The messages AWS IoT Core meters for this traffic: each PUBLISH a client sends, each PUBLISH
 * delivered to a subscriber, and at QoS 1 each PUBACK a subscriber sends (MQTT 3.1.1: one 5 KB
 * message each); every bench message is under 5 KB, so one each. PINGREQ, CONNACK, SUBACK and the
 * PUBACKs the broker sends are free. Undefined at QoS 2, which AWS IoT Core does not offer.
 */
export function awsMessages(qos: 0 | 1 | 2, published: number, delivered: number): number | undefined {
  return qos === 2 ? undefined : published + delivered * (1 + qos);
}
