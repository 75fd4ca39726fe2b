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
      this.wake();
    });
    ws.addEventListener('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  /** Waiters for the next packet or the close. */
  private waiters: Array<() => void> = [];

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves when `done()` holds, checked at once and on every packet and close; false after `timeoutMs`. */
  private async until(done: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
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

  /** The next packet, as soon as it arrives; throws after `timeoutMs` without one. */
  async next(timeoutMs = 10_000): Promise<Packet> {
    if (!(await this.until(() => this.packets.length > 0, timeoutMs))) throw new Error(`no packet within ${timeoutMs} ms`);
    return this.packets.shift()!;
  }

  async connect(clientId: string, extra: Partial<Extract<Packet, { type: 'connect' }>> = {}): Promise<Packet> {
    this.send({
      type: 'connect', protocolName: 'MQTT', protocolVersion: this.version, clean: true, keepalive: 0, clientId, ...extra,
    });
    return this.next();
  }

  /** Whether the socket closes within `timeoutMs`, seen as soon as it does. */
  closedWithin(timeoutMs = 10_000): Promise<boolean> {
    return this.until(() => this.closed, timeoutMs);
  }
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
export const str = (b: Uint8Array): string => new TextDecoder().decode(b);
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
