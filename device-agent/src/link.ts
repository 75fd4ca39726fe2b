// A Link is one byte stream to a peer: a WebSocket to the edge (one binary message per send,
// subprotocol `mqtt`) or a TCP/TLS socket to a local broker. Clients and tunnels see only this.
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
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
      resolve(wrapWebSocket(ws));
    });
  });
}

function wrapWebSocket(ws: WebSocket): Link {
  let closed = false;
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
  const end = (why: string) => {
    if (closed) return;
    closed = true;
    link.onClose(why);
  };
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary) return end('text frame from the peer'); // [MQTT-6.0.0-1]
    link.onData(data);
  });
  ws.on('close', (code, reason) => end(`closed (${code}${reason.length ? ` ${reason}` : ''})`));
  ws.on('error', (err) => end(err.message));
  return link;
}

function openSocket(e: Endpoint, opts: LinkOptions): Promise<Link> {
  const socket: Socket = e.tls
    ? tlsConnect({ host: e.host, port: e.port, ca: opts.ca, rejectUnauthorized: !opts.insecure, servername: e.host })
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
