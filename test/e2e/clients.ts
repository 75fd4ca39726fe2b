// Real clients for end-to-end tests: MQTT.js, and a raw WebSocket that speaks bytes through our
// own codec for what MQTT.js would never send (split packets, text frames, garbage).
import mqtt, { type IClientOptions, type MqttClient, type IPublishPacket } from 'mqtt';
import { Decoder, encode, type ConnectPacket, type Packet, type ProtocolVersion } from '../../src/protocol/index.ts';

let ids = 0;
export const uniqueId = (prefix = 'c'): string => `${prefix}-${process.pid}-${++ids}`;

export async function connectMqtt(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { clientId: uniqueId(), reconnectPeriod: 0, connectTimeout: 10_000, ...opts });
}

export interface Received {
  topic: string;
  payload: string;
  packet: IPublishPacket;
}

/** Collects messages; `next()` waits (bounded) for the next one. */
export function inbox(client: MqttClient): { items: Received[]; next(timeoutMs?: number): Promise<Received>; quiet(ms?: number): Promise<void> } {
  const items: Received[] = [];
  const waiters: Array<() => void> = [];
  client.on('message', (topic, payload, packet) => {
    items.push({ topic, payload: payload.toString(), packet });
    waiters.splice(0).forEach((w) => w());
  });
  let taken = 0;
  return {
    items,
    async next(timeoutMs = 10_000) {
      const until = Date.now() + timeoutMs;
      while (taken >= items.length) {
        if (Date.now() > until) throw new Error(`no message within ${timeoutMs} ms`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 50);
        });
      }
      return items[taken++];
    },
    async quiet(ms = 300) {
      await new Promise((r) => setTimeout(r, ms));
      if (items.length > taken) throw new Error(`unexpected message on ${items[taken].topic}`);
    },
  };
}

/** A client with its inbox attached before CONNACK, so messages sent right after it are kept. */
export function openMqtt(url: string, opts: IClientOptions = {}) {
  const client = mqtt.connect(url, { clientId: uniqueId(), reconnectPeriod: 0, connectTimeout: 10_000, ...opts });
  const got = inbox(client);
  const connack = new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
    client.once('connect', (p) => resolve({ sessionPresent: p.sessionPresent }));
    client.once('error', reject);
  });
  return { client, got, connack };
}

export const closed = (client: MqttClient): Promise<void> =>
  new Promise((resolve) => (client.connected ? client.once('close', () => resolve()) : resolve()));

/** A WebSocket speaking MQTT bytes directly. */
export class RawClient {
  readonly packets: Packet[] = [];
  /** WebSocket messages received. */
  frames = 0;
  /** The size of each, in bytes. */
  readonly frameSizes: number[] = [];
  closeCode?: number;
  /** When set, packets go to it as they arrive instead of into `packets` (a client that answers at once). */
  onPacket?: (packet: Packet) => void;
  private readonly decoder: Decoder;
  readonly ws: WebSocket;
  readonly version: ProtocolVersion;

  private constructor(ws: WebSocket, version: ProtocolVersion) {
    this.ws = ws;
    this.version = version;
    this.decoder = new Decoder({ protocolVersion: version });
    ws.binaryType = 'arraybuffer';
    ws.onmessage = (e) => {
      this.frames++;
      this.frameSizes.push((e.data as ArrayBuffer).byteLength);
      this.decoder.push(new Uint8Array(e.data as ArrayBuffer));
      for (let p = this.decoder.next(); p; p = this.decoder.next()) {
        if (this.onPacket) this.onPacket(p);
        else this.packets.push(p);
      }
    };
    ws.onclose = (e) => void (this.closeCode = e.code);
  }

  static open(url: string, version: ProtocolVersion = 4, protocols: string | string[] = 'mqtt'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols);
      const raw = new RawClient(ws, version);
      ws.onopen = () => resolve(raw);
      ws.onerror = () => reject(new Error(`cannot open ${url}`));
    });
  }

  send(packet: Packet): void {
    this.ws.send(encode(packet, this.version));
  }

  /** Opens, sends CONNECT and returns the CONNACK. */
  static async connect(url: string, version: ProtocolVersion, fields: Partial<ConnectPacket> = {}): Promise<{ raw: RawClient; connack: Packet }> {
    const raw = await RawClient.open(url, version);
    raw.send({
      type: 'connect', protocolName: version === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: version, clean: true, keepalive: 0,
      clientId: uniqueId(), ...fields,
    });
    return { raw, connack: await raw.next() };
  }

  sendBytes(bytes: Uint8Array | string): void {
    this.ws.send(bytes);
  }

  async next(timeoutMs = 10_000): Promise<Packet> {
    const until = Date.now() + timeoutMs;
    while (!this.packets.length) {
      if (Date.now() > until) throw new Error(`no packet within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.packets.shift()!;
  }

  /**
   * Whether the server closed the connection: its close frame arrived (CLOSING) or the socket
   * is closed. Under `wrangler dev`, a socket that never sent a frame gets the server's close
   * frame but its TCP connection is not ended, so the close event may never fire.
   */
  async closedWithin(timeoutMs = 5_000): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    const closing = () => this.closeCode !== undefined || this.ws.readyState >= WebSocket.CLOSING;
    while (!closing() && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    return closing();
  }

  close(): void {
    this.ws.close();
  }
}
