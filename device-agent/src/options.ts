// The option table shared by every command, with mosquitto's letters (-h -p -L -i -I -u -P -k -V
// -q -c -x -d …), and the helpers that turn parsed values into an endpoint and a CONNECT.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import type { ConnectPacket, ProtocolVersion, QoS, Will } from './codec.ts';
import { endpointFromHost, parseEndpoint, type Endpoint, type TlsOptions } from './endpoint.ts';
import { CommandError, ExitCode } from './exit-codes.ts';
import { isLevel, type Level } from './log.ts';

export type OptionTable = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;
export type Values = Record<string, string | boolean | string[] | undefined>;

export const endpointOptions = {
  host: { type: 'string', short: 'h' },
  port: { type: 'string', short: 'p' },
  url: { type: 'string', short: 'L' },
  cafile: { type: 'string' },
  insecure: { type: 'boolean' },
} as const satisfies OptionTable;

export const connectionOptions = {
  ...endpointOptions,
  id: { type: 'string', short: 'i' },
  'id-prefix': { type: 'string', short: 'I' },
  username: { type: 'string', short: 'u' },
  pw: { type: 'string', short: 'P' },
  keepalive: { type: 'string', short: 'k' },
  'protocol-version': { type: 'string', short: 'V' },
  'disable-clean-session': { type: 'boolean', short: 'c' },
  'session-expiry-interval': { type: 'string', short: 'x' },
  'will-topic': { type: 'string' },
  'will-payload': { type: 'string' },
  'will-qos': { type: 'string' },
  'will-retain': { type: 'boolean' },
} as const satisfies OptionTable;

export const logOptions = {
  debug: { type: 'boolean', short: 'd' },
  quiet: { type: 'boolean' },
  'log-level': { type: 'string' },
  help: { type: 'boolean' },
} as const satisfies OptionTable;

/**
 * util.parseArgs with mosquitto's reading of a command line: an option that takes a value takes
 * the next argument whatever it starts with (`-m -3`, `-t -x`), and `-h` with nothing after it
 * asks for help. Usage errors become exit code 2 with a plain message.
 */
export function parse(argv: string[], options: OptionTable, positionals = false): { values: Values; positionals: string[] } {
  try {
    return parseArgs({ args: joinValues(argv, options), options, strict: true, allowPositionals: positionals }) as { values: Values; positionals: string[] };
  } catch (err) {
    throw new CommandError(ExitCode.usage, usageMessage(err as Error & { code?: string }));
  }
}

/** `-m -3` → `--message=-3`, which parseArgs reads without calling `-3` an option. */
function joinValues(argv: string[], options: OptionTable): string[] {
  const valued = new Map<string, string>();
  for (const [name, o] of Object.entries(options)) {
    if (o.type !== 'string') continue;
    valued.set(`--${name}`, name);
    if (o.short) valued.set(`-${o.short}`, name);
  }
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') return [...out, ...argv.slice(i)];
    if (arg === '-h' && i === argv.length - 1 && 'help' in options) out.push('--help');
    else if (valued.has(arg) && i + 1 < argv.length) out.push(`--${valued.get(arg)}=${argv[++i]}`);
    else out.push(arg);
  }
  return out;
}

/** Node's parseArgs messages nest quotes and suggest `--`; say the same thing plainly. */
function usageMessage(err: Error & { code?: string }): string {
  const option = /'(-[^', ]+)/.exec(err.message)?.[1] ?? '';
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${option}`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${/'([^']*)'/.exec(err.message)?.[1] ?? ''}`.trim();
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return /does not take/.test(err.message) ? `${option} takes no value` : `${option} needs a value`;
    default:
      return err.message;
  }
}

export const str = (v: Values, name: string): string | undefined => v[name] as string | undefined;
export const list = (v: Values, name: string): string[] => (v[name] as string[] | undefined) ?? [];

export function int(v: Values, name: string, fallback: number, min = 0, max = 2 ** 32 - 1): number {
  const s = str(v, name);
  if (s === undefined) return fallback;
  const n = Number(s);
  if (!/^-?\d+$/.test(s.trim()) || n < min || n > max) throw new CommandError(ExitCode.usage, `--${name} must be an integer from ${min} to ${max}, not "${s}"`);
  return n;
}

export function qos(v: Values, name: string, fallback: QoS = 0): QoS {
  return int(v, name, fallback, 0, 2) as QoS;
}

/** -V: mqttv5 / mqttv311 / mqttv31, or 5 / 311 / 31 as mosquitto also accepts. */
export function protocolVersion(v: Values, fallback: ProtocolVersion = 4): ProtocolVersion {
  const s = str(v, 'protocol-version');
  if (s === undefined) return fallback;
  const map: Record<string, ProtocolVersion> = { mqttv5: 5, mqttv50: 5, '5': 5, mqttv311: 4, '311': 4, mqttv31: 3, '31': 3 };
  const version = map[s.toLowerCase()];
  if (!version) throw new CommandError(ExitCode.usage, `-V must be mqttv5, mqttv311 or mqttv31, not "${s}"`);
  return version;
}

/** -L URL, else -h/-p as ws://host:port/mqtt (the edge's default namespace). */
export function endpoint(v: Values, defaultPort = 8787): Endpoint {
  const url = str(v, 'url');
  if (url !== undefined) {
    if (str(v, 'host') !== undefined || str(v, 'port') !== undefined) throw new CommandError(ExitCode.usage, '-L cannot be combined with -h or -p');
    return parseEndpoint(url);
  }
  return endpointFromHost(str(v, 'host') ?? 'localhost', int(v, 'port', defaultPort, 1, 65535));
}

export function tlsOptions(v: Values): TlsOptions {
  const file = str(v, 'cafile');
  try {
    return { ca: file ? readFileSync(file) : undefined, insecure: v.insecure === true };
  } catch (err) {
    throw new CommandError(ExitCode.usage, `--cafile: ${(err as Error).message}`);
  }
}

export function logLevel(v: Values): Level {
  const s = str(v, 'log-level');
  if (s !== undefined && !isLevel(s)) throw new CommandError(ExitCode.usage, `--log-level must be error, warn, info or debug, not "${s}"`);
  if (v.debug) return 'debug';
  if (v.quiet) return 'error';
  return (s as Level | undefined) ?? 'info';
}

/** The CONNECT a command sends, from -i -I -u -P -k -V -c -x and --will-*; URL credentials count too. */
export function connectPacket(v: Values, e: Endpoint, env: Record<string, string | undefined>, defaultId: string): ConnectPacket {
  const version = protocolVersion(v);
  const prefix = str(v, 'id-prefix');
  const clientId = str(v, 'id') ?? (prefix !== undefined ? `${prefix}${process.pid}` : defaultId);
  if (version === 3 && (clientId.length === 0 || clientId.length > 23)) throw new CommandError(ExitCode.usage, 'MQTT 3.1 client ids are 1 to 23 characters');
  const clean = v['disable-clean-session'] !== true;
  const p: ConnectPacket = {
    type: 'connect', protocolName: version === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: version, clean,
    keepalive: int(v, 'keepalive', 60, 0, 65535), clientId,
  };
  const username = str(v, 'username') ?? e.username ?? env.DEVICE_AGENT_USERNAME;
  const password = str(v, 'pw') ?? e.password ?? env.DEVICE_AGENT_PASSWORD;
  if (username !== undefined) p.username = username;
  if (password !== undefined) {
    if (username === undefined && version < 5) throw new CommandError(ExitCode.usage, '-P needs -u before MQTT 5 [MQTT-3.1.2-22]');
    p.password = new TextEncoder().encode(password);
  }
  const will = willOf(v);
  if (will) p.will = will;
  if (version === 5) p.properties = { sessionExpiryInterval: sessionExpiry(v, clean) };
  else if (str(v, 'session-expiry-interval') !== undefined) throw new CommandError(ExitCode.usage, '-x needs -V mqttv5');
  return p;
}

function sessionExpiry(v: Values, clean: boolean): number {
  const s = str(v, 'session-expiry-interval');
  if (s === undefined) return clean ? 0 : 0xffffffff;
  if (s === '-1' || s === '∞') return 0xffffffff;
  return int(v, 'session-expiry-interval', 0, 0, 0xffffffff);
}

function willOf(v: Values): Will | undefined {
  const topic = str(v, 'will-topic');
  if (topic === undefined) {
    if (str(v, 'will-payload') !== undefined || str(v, 'will-qos') !== undefined || v['will-retain']) {
      throw new CommandError(ExitCode.usage, '--will-payload, --will-qos and --will-retain need --will-topic');
    }
    return undefined;
  }
  return { topic, payload: new TextEncoder().encode(str(v, 'will-payload') ?? ''), qos: qos(v, 'will-qos'), retain: v['will-retain'] === true };
}

/** mosquitto's default ids: <tool>_<pid>; hostname added so two boards never collide. */
export const defaultClientId = (tool: string): string => `${tool}-${hostname().slice(0, 12)}-${process.pid}`.slice(0, 23);

export function usage(message: string): never {
  throw new CommandError(ExitCode.usage, message);
}
