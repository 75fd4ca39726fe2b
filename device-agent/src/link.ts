// A Link is one byte stream to a peer: a WebSocket to the edge (one binary message per send,
// subprotocol `mqtt`) or a TCP/TLS socket to a local broker. Clients and tunnels see only this.
import { connect as tcpConnect, type Socket } from 'node:net';
import WebSocket from 'ws';
import type { Endpoint, TlsOptions } from './endpoint.ts';
import { networkError } from './messages.ts';

export interface Link {
  send(bytes: Uint8Array): void;
  /** Orderly close: WebSocket close frame / TCP FIN. */
  close(): void;
  /** Abrupt close: the peer sees a lost connection (an edge publishes the will). */
  destroy(): void;
  onData: (bytes: Uint8Array) => void;
  onClose: (why: string) => void;
  /** Bytes accepted by send() and not yet handed to the OS. */
  readonly bufferedAmount: number;
  pause(): void;
  resume(): void;
}

/** Why a link could not be opened; `unreachable` unless the peer answered but refused. */
export class LinkError extends Error {
  constructor(message: string, readonly code?: string) {
    super(message);
    this.name = 'LinkError';
  }
}

export interface LinkOptions extends TlsOptions {
  timeoutMs?: number;
  /**
   * WebSocket only: a link on which nothing (data, ping or pong) has arrived for this long is
   * stalled and ended, even while we keep sending; pings go out every third of it [RFC 6455 5.5.2].
   */
  stallMs?: number;
}

export function openLink(e: Endpoint, opts: LinkOptions = {}): Promise<Link> {
  return e.transport === 'ws' ? openWebSocket(e, opts) : openSocket(e, opts);
}

function openWebSocket(e: Endpoint, opts: LinkOptions): Promise<Link> {
  const url = `${e.tls ? 'wss' : 'ws'}://${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}${e.path}`;
  const ws = new WebSocket(url, ['mqtt'], {
    perMessageDeflate: false,
    handshakeTimeout: opts.timeoutMs ?? 10_000,
    ca: opts.ca,
    rejectUnauthorized: !opts.insecure,
  });
  return new Promise((resolve, reject) => {
    const fail = (err: Error & { code?: string }) => {
      ws.removeAllListeners();
      ws.on('error', () => {});
      ws.terminate();
      reject(new LinkError(networkError(err), err.code));
    };
    ws.once('error', fail);
    ws.once('unexpected-response', (_req, res) => fail(new Error(`HTTP ${res.statusCode} instead of a WebSocket${res.statusCode === 404 ? ' (the path is /mqtt or /mqtt/<namespace>)' : ''}`)));
    ws.once('open', () => {
      ws.removeAllListeners();
      resolve(wrapWebSocket(ws, opts.stallMs ?? 0));
    });
  });
}

function wrapWebSocket(ws: WebSocket, stallMs: number): Link {
  let closed = false;
  let heard = Date.now();
  const link: Link = {
    send: (bytes) => ws.readyState === WebSocket.OPEN && ws.send(bytes),
    close: () => ws.close(1000),
    destroy: () => ws.terminate(),
    onData: () => {},
    onClose: () => {},
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
    pause: () => ws.pause(),
    resume: () => ws.resume(),
  };
  const watch = stallMs > 0 ? setInterval(() => checkStall(), Math.max(100, stallMs / 6)) : undefined;
  watch?.unref?.();
  let pinged = 0;
  const checkStall = () => {
    const now = Date.now();
    if (now - heard > stallMs) {
      ws.terminate();
      return end(`stalled: nothing from the peer in ${(stallMs / 1000).toFixed(1)} s`);
    }
    if (now - pinged >= stallMs / 3 && ws.readyState === WebSocket.OPEN) {
      pinged = now;
      ws.ping();
    }
  };
  const end = (why: string) => {
    clearInterval(watch);
    if (closed) return;
    closed = true;
    link.onClose(why);
  };
  ws.on('pong', () => (heard = Date.now()));
  ws.on('ping', () => (heard = Date.now()));
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    heard = Date.now();
    if (!isBinary) return end('text frame from the peer'); // [MQTT-6.0.0-1]
    link.onData(data);
  });
  ws.on('close', (code, reason) => end(`closed (${code}${reason.length ? ` ${reason}` : ''})`));
  ws.on('error', (err) => end(err.message));
  return link;
}

function openSocket(e: Endpoint, opts: LinkOptions): Promise<Link> {
  // node:tls is loaded for mqtts:// only: it is ~3 MB of RSS on Node 22.
  const socket: Socket = e.tls
    ? (require('node:tls') as typeof import('node:tls')).connect({ host: e.host, port: e.port, ca: opts.ca, rejectUnauthorized: !opts.insecure, servername: e.host })
    : tcpConnect({ host: e.host, port: e.port });
  socket.setNoDelay(true);
  const timer = setTimeout(() => socket.destroy(new Error('connect timed out')), opts.timeoutMs ?? 10_000);
  return new Promise((resolve, reject) => {
    socket.once('error', (err: Error & { code?: string }) => {
      clearTimeout(timer);
      reject(new LinkError(networkError(err), err.code));
    });
    socket.once(e.tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(wrapSocket(socket));
    });
  });
}

/** A connected TCP socket as a Link (also used for the tunnel's accepted clients). */
export function wrapSocket(socket: Socket): Link {
  let closed = false;
  const link: Link = {
    send: (bytes) => {
      if (!socket.destroyed) socket.write(bytes);
    },
    close: () => socket.end(),
    destroy: () => socket.resetAndDestroy?.() ?? socket.destroy(),
    onData: () => {},
    onClose: () => {},
    get bufferedAmount() {
      return socket.writableLength;
    },
    pause: () => socket.pause(),
    resume: () => socket.resume(),
  };
  socket.on('data', (d) => link.onData(d));
  socket.on('error', () => {});
  socket.on('close', (hadError) => {
    if (closed) return;
    closed = true;
    link.onClose(hadError ? 'connection reset' : 'closed');
  });
  return link;
}
