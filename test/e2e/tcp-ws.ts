// A WebSocket client on a bare TCP socket, for clients no WebSocket library can play: one that
// stops reading (the socket is paused, so the kernel's buffers fill and the server's writes
// back up), or that stops writing in the middle of a packet.
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

export class TcpWebSocket {
  readonly socket: Socket;
  /** Payload bytes of every binary frame received, in order. */
  private received: Buffer[] = [];
  private pending = Buffer.alloc(0);
  closeFrame = false;
  ended = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('end', () => void (this.ended = true));
    socket.on('close', () => void (this.ended = true));
    socket.on('error', () => void (this.ended = true));
  }

  static open(port: number, path = '/mqtt'): Promise<TcpWebSocket> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      const ws = new TcpWebSocket(socket);
      const key = randomBytes(16).toString('base64');
      socket.once('connect', () => socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n`,
      ));
      let head = '';
      const onData = (chunk: Buffer) => {
        head += chunk.toString('latin1');
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        if (!head.startsWith('HTTP/1.1 101')) return reject(new Error(`no upgrade: ${head.split('\r\n')[0]}`));
        socket.on('data', (d: Buffer) => ws.frames(d));
        const rest = Buffer.from(head.slice(end + 4), 'latin1');
        if (rest.length) ws.frames(rest);
        resolve(ws);
      };
      socket.on('data', onData);
      socket.once('error', reject);
    });
  }

  /** Sends bytes as one masked binary frame. */
  send(bytes: Uint8Array): void {
    const mask = randomBytes(4);
    const len = bytes.length;
    const head = len < 126 ? Buffer.from([0x82, 0x80 | len]) : Buffer.from([0x82, 0x80 | 126, len >> 8, len & 0xff]);
    const body = Buffer.from(bytes.map((b, i) => b ^ mask[i % 4]));
    this.socket.write(Buffer.concat([head, mask, body]));
  }

  /** Everything received in binary frames so far. */
  bytes(): Uint8Array {
    return new Uint8Array(Buffer.concat(this.received));
  }

  private frames(chunk: Buffer): void {
    this.pending = Buffer.concat([this.pending, chunk]);
    for (;;) {
      if (this.pending.length < 2) return;
      const opcode = this.pending[0] & 0x0f;
      let len = this.pending[1] & 0x7f;
      let at = 2;
      if (len === 126) [len, at] = [this.pending.readUInt16BE(2), 4];
      else if (len === 127) [len, at] = [Number(this.pending.readBigUInt64BE(2)), 10];
      if (this.pending.length < at + len) return;
      const payload = this.pending.subarray(at, at + len);
      if (opcode === 2 || opcode === 0) this.received.push(Buffer.from(payload));
      if (opcode === 8) this.closeFrame = true;
      this.pending = this.pending.subarray(at + len);
    }
  }
}
