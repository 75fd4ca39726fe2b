// Plain tunnel: one local TCP client, one WebSocket to the edge, bytes passed both ways. Only
// the first packet each way is looked at: the CONNECT (to inject credentials and name the
// client in logs) and the CONNACK (to log the edge's answer). TCP reads that arrive together
// leave as one WebSocket message.
import type { Socket } from 'node:net';
import { Decoder, encode, type ConnectPacket, type ProtocolVersion } from '../codec.ts';
import { hasCredentials, injectCredentials, type Credentials } from '../credentials.ts';
import type { Endpoint, TlsOptions } from '../endpoint.ts';
import { concat, firstPacketLength, packetType } from '../frame.ts';
import { openLink, type Link } from '../link.ts';
import type { Logger } from '../log.ts';
import { clientLabel, connackReason } from '../messages.ts';

export interface PipeOptions {
  endpoint: Endpoint;
  tls: TlsOptions;
  credentials: Credentials;
  log: Logger;
  connectTimeoutMs: number;
  /** --stall-timeout: an edge WebSocket with nothing arriving this long is ended. */
  stallMs: number;
  /** --edge-keepalive (--buffer only): the MQTT keepalive of the agent's connections to the edge, seconds. */
  edgeKeepalive?: number;
}

/** Outgoing bytes held per connection before the TCP side is paused. */
const highWater = 1 << 20;
const maxConnect = 256 * 1024;

export class Pipe {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private flushScheduled = false;
  private ws?: Link;
  private closed = false;
  private name: string;
  private sawConnack = false;
  private opening = false;
  private version: ProtocolVersion = 4;

  constructor(private readonly socket: Socket, private readonly opts: PipeOptions, private readonly onEnd: () => void) {
    this.name = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.on('data', (d: Buffer) => this.fromDevice(d));
    socket.on('error', () => {});
    socket.on('close', (hadError) => this.close(hadError ? 'device connection reset' : 'device closed the connection', hadError));
    socket.on('drain', () => this.ws?.resume());
  }

  private fromDevice(chunk: Uint8Array): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (!this.ws) return this.beforeOpen();
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Until the WebSocket is open: wait for the whole CONNECT, then open it. */
  private beforeOpen(): void {
    if (this.pendingBytes > maxConnect) return this.close("CONNECT too large", true);
    if (this.opening) return;
    const head = concat(this.pending);
    let length: number | undefined;
    try {
      length = firstPacketLength(head);
    } catch {
      return this.close('malformed first packet', true);
    }
    if (length === undefined) return;
    if (packetType(head) !== 1) return this.close('first packet is not CONNECT', true);
    const connect = this.rewriteConnect(head.subarray(0, length));
    if (!connect) return;
    this.pending = [connect, head.subarray(length)];
    this.opening = true;
    void this.open();
  }

  /** The CONNECT as it goes to the edge, or undefined when the connection was closed. */
  private rewriteConnect(bytes: Uint8Array): Uint8Array | undefined {
    let packet: ConnectPacket;
    try {
      const d = new Decoder();
      d.push(bytes);
      packet = d.next() as ConnectPacket;
    } catch (err) {
      // Without credentials to add, the edge gives the right refusal for a CONNECT we cannot read.
      if (!hasCredentials(this.opts.credentials)) return bytes;
      this.close(`unreadable CONNECT: ${(err as Error).message}`, true);
      return undefined;
    }
    this.name = clientLabel(packet.clientId, this.name);
    this.version = packet.protocolVersion;
    if (!hasCredentials(this.opts.credentials)) return bytes;
    this.opts.log.debug(`${this.name}: credentials injected`);
    return encode(injectCredentials(packet, this.opts.credentials), packet.protocolVersion);
  }

  private async open(): Promise<void> {
    this.socket.pause();
    try {
      this.ws = await openLink(this.opts.endpoint, { ...this.opts.tls, timeoutMs: this.opts.connectTimeoutMs, stallMs: this.opts.stallMs });
    } catch (err) {
      this.opts.log.warn(`${this.name}: edge unreachable: ${(err as Error).message}`);
      return this.close('edge unreachable', true);
    }
    if (this.closed) return this.ws.close();
    this.ws.onData = (d) => this.fromEdge(d);
    this.ws.onClose = (why) => this.close(`edge ${why}`, false);
    this.socket.resume();
    this.flush();
  }

  private flush(): void {
    this.flushScheduled = false;
    if (!this.ws || this.pending.length === 0) return;
    this.ws.send(concat(this.pending));
    this.pending = [];
    this.pendingBytes = 0;
    if (this.ws.bufferedAmount > highWater) this.waitForEdge();
  }

  /** Backpressure toward the device while the edge side has a lot queued. */
  private waitForEdge(): void {
    this.socket.pause();
    const check = () => {
      if (this.closed) return;
      if ((this.ws?.bufferedAmount ?? 0) > highWater / 2) return void setTimeout(check, 10);
      this.socket.resume();
    };
    setTimeout(check, 10);
  }

  private fromEdge(d: Uint8Array): void {
    if (!this.sawConnack) this.logConnack(d);
    if (!this.socket.write(d)) this.ws?.pause();
  }

  private logConnack(d: Uint8Array): void {
    this.sawConnack = true;
    if (packetType(d) !== 2 || d.length < 4) return;
    const code = d[3];
    if (code === 0) this.opts.log.info(`${this.name}: connected to the edge`);
    else this.opts.log.warn(`${this.name}: the edge refused the connection: ${connackReason(code, this.version)}`);
  }

  /** Either side gone: close the other. `abrupt` drops instead of closing politely. */
  close(why: string, abrupt: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.opts.log.info(`${this.name}: ${why}`);
    if (this.ws) {
      if (this.pending.length) this.flush();
      if (abrupt) this.ws.destroy();
      else this.ws.close();
    }
    if (abrupt) this.socket.destroy();
    else this.socket.end();
    this.onEnd();
  }
}
