// Parses mosquitto's bridge syntax (mosquitto.conf(5), "Configuring Bridges") into typed
// connections. Pure: text in, config or a ConfigError naming the line out. The edge is given by
// URL in `address`; `local_address` (an agent addition) names the board's broker.
import type { ProtocolVersion, QoS } from '../codec.ts';
import { validateTopicFilter } from '../codec.ts';
import type { TopicLine } from './topic-map.ts';

export interface BridgeConnection {
  name: string;
  line: number;
  /** Edge URLs (ws:// or wss://), tried in turn. */
  addresses: string[];
  topics: TopicLine[];
  remoteClientId?: string;
  remoteUsername?: string;
  remotePassword?: string;
  localAddress: string;
  localClientId?: string;
  localUsername?: string;
  localPassword?: string;
  cleanSession: boolean;
  localCleanSession?: boolean;
  protocolVersion: ProtocolVersion;
  keepalive: number;
  notifications: boolean;
  notificationTopic?: string;
  notificationsLocalOnly: boolean;
  /** Reconnect backoff in seconds: base and cap (mosquitto's restart_timeout). */
  restartTimeout: { base: number; cap: number };
  cafile?: string;
  insecure: boolean;
}

export interface BridgeConfig {
  connections: BridgeConnection[];
  warnings: string[];
}

export class ConfigError extends Error {
  constructor(readonly line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = 'ConfigError';
  }
}

type Setter = (c: BridgeConnection, value: string, line: number) => void;

const bool = (v: string, line: number): boolean => {
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new ConfigError(line, `expected true or false, not "${v}"`);
};

const integer = (v: string, line: number, min: number, max: number): number => {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) throw new ConfigError(line, `expected a number from ${min} to ${max}, not "${v}"`);
  return n;
};

const versions: Record<string, ProtocolVersion> = { mqttv50: 5, mqttv5: 5, mqttv311: 4, mqttv31: 3 };

const setters: Record<string, Setter> = {
  address: (c, v, line) => (c.addresses = v.split(/\s+/).map((a) => edgeUrl(a, line))),
  addresses: (c, v, line) => setters.address(c, v, line),
  topic: (c, v, line) => c.topics.push(parseTopicLine(v, line)),
  remote_clientid: (c, v) => (c.remoteClientId = v),
  clientid: (c, v) => (c.remoteClientId = v),
  remote_username: (c, v) => (c.remoteUsername = v),
  username: (c, v) => (c.remoteUsername = v),
  remote_password: (c, v) => (c.remotePassword = v),
  password: (c, v) => (c.remotePassword = v),
  local_address: (c, v) => (c.localAddress = v),
  local_clientid: (c, v) => (c.localClientId = v),
  local_username: (c, v) => (c.localUsername = v),
  local_password: (c, v) => (c.localPassword = v),
  cleansession: (c, v, line) => (c.cleanSession = bool(v, line)),
  local_cleansession: (c, v, line) => (c.localCleanSession = bool(v, line)),
  bridge_protocol_version: (c, v, line) => {
    const version = versions[v];
    if (!version) throw new ConfigError(line, `bridge_protocol_version must be mqttv50, mqttv311 or mqttv31, not "${v}"`);
    c.protocolVersion = version;
  },
  keepalive_interval: (c, v, line) => (c.keepalive = integer(v, line, 5, 65535)),
  notifications: (c, v, line) => (c.notifications = bool(v, line)),
  notification_topic: (c, v) => (c.notificationTopic = v),
  notifications_local_only: (c, v, line) => (c.notificationsLocalOnly = bool(v, line)),
  restart_timeout: (c, v, line) => {
    const [base, cap] = v.split(/\s+/).map((x) => integer(x, line, 1, 86400));
    c.restartTimeout = { base, cap: cap ?? base };
  },
  bridge_cafile: (c, v) => (c.cafile = v),
  bridge_insecure: (c, v, line) => (c.insecure = bool(v, line)),
};

/** mosquitto bridge options that have no meaning for a WebSocket edge: accepted, reported. */
const ignored = new Set(['try_private', 'start_type', 'idle_timeout', 'threshold', 'round_robin', 'bridge_attempt_unsubscribe',
  'bridge_outgoing_retain', 'bridge_max_packet_size', 'bridge_tls_version', 'bridge_capath', 'bridge_certfile', 'bridge_keyfile',
  'bridge_alpn', 'bridge_require_ocsp', 'bridge_bind_address', 'bridge_identity', 'bridge_psk', 'local_bind_address']);

export function parseBridgeConfig(text: string): BridgeConfig {
  const connections: BridgeConnection[] = [];
  const warnings: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const [key, value] = splitKey(trimmed);
    if (key === 'connection') return void connections.push(newConnection(value, line, connections));
    const c = connections[connections.length - 1];
    if (!c) throw new ConfigError(line, `"${key}" must come after a "connection" line`);
    if (ignored.has(key)) return void warnings.push(`line ${line}: ${key} does not apply to a WebSocket edge; ignored`);
    const set = setters[key];
    if (!set) throw new ConfigError(line, `unknown bridge option "${key}"`);
    if (value === '' && key !== 'topic') throw new ConfigError(line, `${key} needs a value`);
    set(c, value, line);
  });
  for (const c of connections) check(c);
  if (connections.length === 0) throw new ConfigError(1, 'no "connection" in the file');
  return { connections, warnings };
}

function splitKey(s: string): [string, string] {
  const m = /^(\S+)\s*(.*)$/.exec(s)!;
  return [m[1], m[2].trim()];
}

function newConnection(name: string, line: number, existing: BridgeConnection[]): BridgeConnection {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new ConfigError(line, `connection name "${name}" must be letters, digits, . _ or -`);
  if (existing.some((c) => c.name === name)) throw new ConfigError(line, `connection "${name}" defined twice`);
  return {
    name, line, addresses: [], topics: [], localAddress: '127.0.0.1:1883', cleanSession: false, protocolVersion: 4,
    keepalive: 60, notifications: true, notificationsLocalOnly: false, restartTimeout: { base: 5, cap: 30 }, insecure: false,
  };
}

function edgeUrl(a: string, line: number): string {
  if (!/^wss?:\/\/[^/]/.test(a)) throw new ConfigError(line, `address must be the edge's ws:// or wss:// URL, not "${a}"`);
  return a;
}

/** topic <pattern> [[[in|out|both] qos] local-prefix remote-prefix]; "" is an empty string. */
export function parseTopicLine(value: string, line: number): TopicLine {
  const tokens = (value.match(/""|\S+/g) ?? []).map((t) => (t === '""' ? '' : t));
  const [pattern, direction = 'out', q = '0', localPrefix = '', remotePrefix = ''] = tokens;
  if (tokens.length === 0) throw new ConfigError(line, 'topic needs a pattern');
  if (tokens.length === 4 || tokens.length > 5) throw new ConfigError(line, 'topic takes a pattern, then optionally direction, qos, and both prefixes');
  if (direction !== 'in' && direction !== 'out' && direction !== 'both') throw new ConfigError(line, `topic direction must be in, out or both, not "${direction}"`);
  if (!/^[012]$/.test(q)) throw new ConfigError(line, `topic qos must be 0, 1 or 2, not "${q}"`);
  if (pattern === '' && localPrefix === '' && remotePrefix === '') throw new ConfigError(line, 'an empty pattern needs prefixes');
  for (const filter of [localPrefix + pattern, remotePrefix + pattern]) {
    try {
      validateTopicFilter(filter);
    } catch (err) {
      throw new ConfigError(line, `"${filter}" is not a valid topic filter: ${(err as Error).message}`);
    }
  }
  if (/[+#]/.test(localPrefix + remotePrefix)) throw new ConfigError(line, 'prefixes cannot contain wildcards');
  return { pattern, direction, qos: Number(q) as QoS, localPrefix, remotePrefix };
}

function check(c: BridgeConnection): void {
  if (c.topics.length === 0) throw new ConfigError(c.line, `connection ${c.name} has no "topic" line`);
  if (c.remotePassword !== undefined && c.remoteUsername === undefined && c.protocolVersion < 5) {
    throw new ConfigError(c.line, `connection ${c.name}: remote_password needs remote_username before MQTT 5`);
  }
}
