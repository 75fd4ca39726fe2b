// Where a client connects: ws:// or wss:// (the edge, subprotocol `mqtt`), or mqtt:// / mqtts://
// (a plain TCP broker such as the board's mosquitto). Parsed once, from -L or from -h/-p.
import { CommandError, ExitCode } from './exit-codes.ts';

export type Transport = 'ws' | 'tcp';

export interface Endpoint {
  transport: Transport;
  tls: boolean;
  host: string;
  port: number;
  /** WebSocket path with query, e.g. /mqtt or /mqtt/<namespace>. */
  path: string;
  /** For mqtt:// URLs the path is a topic, as in mosquitto's -L. */
  topic?: string;
  username?: string;
  password?: string;
  /** For logs: never carries the password. */
  display: string;
}

export interface TlsOptions {
  ca?: Buffer;
  insecure?: boolean;
}

const defaults: Record<string, { transport: Transport; tls: boolean; port: number }> = {
  'ws:': { transport: 'ws', tls: false, port: 80 },
  'wss:': { transport: 'ws', tls: true, port: 443 },
  'mqtt:': { transport: 'tcp', tls: false, port: 1883 },
  'mqtts:': { transport: 'tcp', tls: true, port: 8883 },
};

export function parseEndpoint(text: string): Endpoint {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CommandError(ExitCode.usage, `not a URL: ${text}`);
  }
  const d = defaults[url.protocol];
  if (!d) throw new CommandError(ExitCode.usage, `unsupported URL scheme ${url.protocol} (use ws, wss, mqtt or mqtts)`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port ? Number(url.port) : d.port;
  const e: Endpoint = { transport: d.transport, tls: d.tls, host, port, path: '/', display: '' };
  if (d.transport === 'ws') e.path = (url.pathname || '/') + url.search;
  else if (url.pathname.length > 1) e.topic = decodeURIComponent(url.pathname.slice(1));
  if (url.username) e.username = decodeURIComponent(url.username);
  if (url.password) e.password = decodeURIComponent(url.password);
  e.display = `${url.protocol}//${url.host}${d.transport === 'ws' ? e.path : ''}`;
  return e;
}

/** -h/-p without -L: a WebSocket URL on the edge's default path. */
export function endpointFromHost(host: string, port: number, path = '/mqtt'): Endpoint {
  const h = host.includes(':') ? `[${host}]` : host;
  return parseEndpoint(`ws://${h}:${port}${path}`);
}

/** "host:port", "[::1]:port" or ":port" (all interfaces) for --listen and local_address. */
export function parseHostPort(text: string, defaultHost: string, defaultPort: number): { host: string; port: number } {
  if (/^\d+$/.test(text.trim())) text = `:${text.trim()}`;
  const m = /^(?:\[([^\]]+)\]|([^:]*))(?::(\d+))?$/.exec(text.trim());
  if (!m) throw new CommandError(ExitCode.usage, `not host:port: ${text}`);
  const host = m[1] ?? (m[2] || defaultHost);
  const port = m[3] === undefined ? defaultPort : Number(m[3]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CommandError(ExitCode.usage, `bad port in ${text}`);
  return { host, port };
}
