// A WebSocket MQTT client inside workerd: upgrades through the Worker's own fetch handler and
// speaks packets through the project's codec.
import { exports } from 'cloudflare:workers';
import { Decoder, encode, type Packet, type ProtocolVersion } from '../../src/protocol/index.ts';

export class WsClient {
  readonly packets: Packet[] = [];
  closed = false;
  readonly ws: WebSocket;
  readonly version: ProtocolVersion;
  private readonly decoder: Decoder;

  private constructor(ws: WebSocket, version: ProtocolVersion) {
    this.ws = ws;
    this.version = version;
    this.decoder = new Decoder({ protocolVersion: version });
    ws.accept();
    ws.addEventListener('message', (e) => {
      this.decoder.push(new Uint8Array(e.data as ArrayBuffer));
      for (let p = this.decoder.next(); p; p = this.decoder.next()) this.packets.push(p);
    });
    ws.addEventListener('close', () => void (this.closed = true));
  }

  static async open(path: string, version: ProtocolVersion = 5): Promise<WsClient> {
    const res = await exports.default.fetch(`http://broker.test${path}`, {
      headers: { Upgrade: 'websocket', 'Sec-WebSocket-Protocol': 'mqtt' },
    });
    if (!res.webSocket) throw new Error(`no upgrade: ${res.status}`);
    return new WsClient(res.webSocket, version);
  }

  send(packet: Packet): void {
    this.ws.send(encode(packet, this.version));
  }

  async next(timeoutMs = 3_000): Promise<Packet> {
    const until = Date.now() + timeoutMs;
    while (!this.packets.length) {
      if (Date.now() > until) throw new Error(`no packet within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.packets.shift()!;
  }

  async connect(clientId: string, extra: Partial<Extract<Packet, { type: 'connect' }>> = {}): Promise<Packet> {
    this.send({
      type: 'connect', protocolName: 'MQTT', protocolVersion: this.version, clean: true, keepalive: 0, clientId, ...extra,
    });
    return this.next();
  }

  async closedWithin(timeoutMs = 3_000): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    return this.closed;
  }
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
export const str = (b: Uint8Array): string => new TextDecoder().decode(b);
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
