// The benchmark's clients: MQTT.js over a WebSocket whose framing the benchmark chooses, and raw
// sockets for the echo object. 'packet' sends each MQTT packet as one WebSocket message (MQTT.js
// alone would split a packet over several); 'coalesce' sends what one tick produced as one message,
// as browsers and the device-agent do.
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import WebSocket from 'ws';

export type Framing = 'packet' | 'coalesce';

type SendCallback = (err?: Error) => void;

class FramedWebSocket extends WebSocket {
  framing: Framing = 'packet';
  private pending: Buffer = Buffer.alloc(0);
  private scheduled = false;

  override send(data: unknown, options?: unknown, cb?: unknown): void {
    const callback = (typeof options === 'function' ? options : cb) as SendCallback | undefined;
    this.pending = this.pending.length ? Buffer.concat([this.pending, data as Buffer]) : Buffer.from(data as Buffer);
    if (this.framing === 'packet') this.sendWholePackets();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    if (callback) process.nextTick(callback);
  }

  private sendWholePackets(): void {
    for (let size = packetLength(this.pending); size && size <= this.pending.length; size = packetLength(this.pending)) {
      super.send(this.pending.subarray(0, size));
      this.pending = this.pending.subarray(size);
    }
  }

  private flush(): void {
    this.scheduled = false;
    if (this.readyState !== WebSocket.OPEN || !this.pending.length) return;
    super.send(this.pending);
    this.pending = Buffer.alloc(0);
  }
}

/** Bytes of the MQTT packet at the start of `b`, or 0 while its fixed header is incomplete. */
function packetLength(b: Buffer): number {
  let length = 0;
  for (let i = 1, shift = 0; i < 5 && i < b.length; i++, shift += 7) {
    length += (b[i] & 0x7f) << shift;
    if (!(b[i] & 0x80)) return 1 + i + length;
  }
  return 0;
}

type OnMessage = (topic: string, payload: Buffer) => void;

/** Connects with the message handler in place before CONNACK, so queued messages are not missed. */
export function connect(url: string, framing: Framing, opts: IClientOptions = {}, onMessage?: OnMessage): Promise<MqttClient> {
  const client = mqtt.connect(url, {
    reconnectPeriod: 0, connectTimeout: 30_000, keepalive: 60, protocolVersion: 4, ...opts,
    createWebsocket: (u: string, protocols: string[]) => {
      const ws = new FramedWebSocket(u, protocols);
      ws.framing = framing;
      return ws;
    },
  });
  if (onMessage) client.on('message', onMessage);
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', reject);
  });
}

/** A raw socket for the echo object: 'sink' sockets receive what 'source' sockets send; a 'peer' its own. */
export function openRaw(url: string, role: 'source' | 'sink' | 'peer'): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}?role=${role}`, ['mqtt']);
    ws.binaryType = 'nodebuffer';
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

export const endAll = (clients: MqttClient[]): Promise<unknown> => Promise.all(clients.map((c) => c.endAsync(true)));
