// Hostile connections for the fuzz test: random bytes, truncated and mutated packets, valid
// openings followed by garbage, all from a seeded generator so a failure can be replayed.
import { encode, type Packet, type ProtocolVersion } from '../../src/protocol/index.ts';

/** mulberry32: small, fast, seeded. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const text = (s: string) => new TextEncoder().encode(s);

function corpus(version: ProtocolVersion, n: number): Packet[] {
  const v5 = version === 5;
  return [
    { type: 'publish', topic: `fz/${n}/t`, payload: text('payload'), qos: 0, retain: false, dup: false },
    { type: 'publish', topic: `fz/${n}/r`, payload: text('r'), qos: 1, packetId: 3, retain: true, dup: false, properties: v5 ? { messageExpiryInterval: 60, topicAlias: 1 } : undefined },
    { type: 'publish', topic: `fz/${n}/q2`, payload: text('q2'), qos: 2, packetId: 4, retain: false, dup: true },
    { type: 'subscribe', packetId: 5, subscriptions: [{ topicFilter: 'fz/#', qos: 2 }, { topicFilter: '$share/g/fz/+', qos: 1 }], properties: v5 ? { subscriptionIdentifiers: [7] } : undefined },
    { type: 'unsubscribe', packetId: 6, topicFilters: ['fz/#', 'a/+/b'] },
    { type: 'puback', packetId: 1 }, { type: 'pubrec', packetId: 2 }, { type: 'pubrel', packetId: 4 }, { type: 'pubcomp', packetId: 2 },
    { type: 'pingreq' },
    ...(v5 ? [{ type: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: text('c=biws,r=abc,p=AAAA') } } as const] : []),
    { type: 'disconnect', reasonCode: v5 ? 0x04 : undefined, properties: v5 ? { sessionExpiryInterval: 10 } : undefined },
  ];
}

/** Credentials of every kind the broker checks: none, a password, a token-shaped one, SCRAM. */
function credentials(version: ProtocolVersion, rnd: () => number): Partial<Extract<Packet, { type: 'connect' }>> {
  const kind = rnd();
  if (kind < 0.6) return {};
  if (kind < 0.75) return { username: 'fuzzer', password: text(rnd() < 0.5 ? 'fuzzed' : 'wrong') };
  if (kind < 0.9 || version < 5) return { username: 'x', password: text('eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln') };
  return { properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: text(rnd() < 0.5 ? 'n,,n=fuzzer,r=abc' : 'garbage') } };
}

function connectPacket(version: ProtocolVersion, n: number, rnd: () => number): Packet {
  const creds = credentials(version, rnd);
  const session = version === 5 && rnd() < 0.5 ? { sessionExpiryInterval: 30, receiveMaximum: 2 } : undefined;
  return {
    type: 'connect', protocolName: version === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: version, clean: rnd() < 0.7,
    keepalive: Math.floor(rnd() * 5), clientId: `fz-${n}`,
    will: rnd() < 0.3 ? { topic: `fz/${n}/will`, payload: text('bye'), qos: 1, retain: rnd() < 0.5 } : undefined,
    ...creds,
    properties: session || creds.properties ? { ...session, ...creds.properties } : undefined,
  };
}

function randomBytes(rnd: () => number, max: number): Uint8Array {
  return Uint8Array.from({ length: 1 + Math.floor(rnd() * max) }, () => Math.floor(rnd() * 256));
}

/** Flips, inserts, deletes bytes, or cuts the packet short. */
function mutate(bytes: Uint8Array, rnd: () => number): Uint8Array {
  const out = [...bytes];
  const edits = 1 + Math.floor(rnd() * 4);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(rnd() * out.length);
    const kind = rnd();
    if (kind < 0.4) out[at] = Math.floor(rnd() * 256);
    else if (kind < 0.6) out.splice(at, 0, Math.floor(rnd() * 256));
    else if (kind < 0.8) out.splice(at, 1);
    else out.length = Math.max(1, at);
  }
  return Uint8Array.from(out);
}

/** The frames one hostile connection sends, by one of several strategies. */
export function hostileFrames(n: number, rnd: () => number): { version: ProtocolVersion; frames: Uint8Array[] } {
  const version = ([3, 4, 5] as const)[Math.floor(rnd() * 3)];
  const connect = encode(connectPacket(version, n, rnd), version);
  const packets = corpus(version, n).map((p) => encode(p, version));
  const pick = () => packets[Math.floor(rnd() * packets.length)];
  const strategy = rnd();
  const count = 1 + Math.floor(rnd() * 12);
  if (strategy < 0.15) return { version, frames: Array.from({ length: count }, () => randomBytes(rnd, 300)) };
  if (strategy < 0.3) return { version, frames: [mutate(connect, rnd), ...Array.from({ length: count }, () => mutate(pick(), rnd))] };
  const body = Array.from({ length: count }, () => (rnd() < 0.5 ? mutate(pick(), rnd) : rnd() < 0.5 ? pick() : randomBytes(rnd, 64)));
  if (strategy < 0.45) body.push(connect); // a second CONNECT somewhere
  return { version, frames: [connect, ...body] };
}

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'mqtt');
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error('cannot open'));
  });
}

export interface HostileStats {
  connections: number;
  opened: number;
  frames: number;
  bytes: number;
}

/** One hostile connection: open, send, linger a little, close. Reads nothing; never throws. */
export async function runHostile(url: string, n: number, rnd: () => number, stats: HostileStats): Promise<void> {
  const { frames } = hostileFrames(n, rnd);
  stats.connections++;
  try {
    const ws = await open(url);
    stats.opened++;
    for (const frame of frames) {
      if (ws.readyState !== WebSocket.OPEN) break;
      if (rnd() < 0.2 && frame.length > 2) {
        const cut = 1 + Math.floor(rnd() * (frame.length - 1)); // one packet over two messages
        ws.send(frame.slice(0, cut));
        ws.send(frame.slice(cut));
      } else ws.send(frame);
      stats.frames++;
      stats.bytes += frame.length;
      if (rnd() < 0.3) await new Promise((r) => setTimeout(r, Math.floor(rnd() * 30)));
    }
    await new Promise((r) => setTimeout(r, Math.floor(rnd() * 100)));
    ws.close();
  } catch {
    // the server may close first; that is its right
  }
}
