// device-agent bridge: the board's mosquitto <-> the edge, configured with mosquitto's bridge
// syntax. One Bridge per `connection`; each has its own spool under --spool.
import { readFileSync } from 'node:fs';
import { Bridge } from '../bridge/bridge.ts';
import { ConfigError, parseBridgeConfig, type BridgeConfig } from '../bridge/config.ts';
import { CommandError, ExitCode } from '../exit-codes.ts';
import help from '../help/bridge.txt';
import type { Io } from '../io.ts';
import { createLogger } from '../log.ts';
import { count } from '../messages.ts';
import { endpointOptions, logLevel, logOptions, parse, str, tlsOptions, usage, type Values } from '../options.ts';
import { aborted } from '../session.ts';
import { spoolOptions, spoolOptionTable } from '../spool/options.ts';
import { Spool } from '../spool/spool.ts';

const options = {
  ...endpointOptions,
  ...logOptions,
  ...spoolOptionTable,
  config: { type: 'string', short: 'c' },
  local: { type: 'string' },
  check: { type: 'boolean' },
} as const;

export async function run(argv: string[], io: Io): Promise<number> {
  const { values: v } = parse(argv, options);
  if (v.help) return void io.stdout.write(help), ExitCode.ok;
  const config = loadConfig(v);
  const log = createLogger({ level: logLevel(v), write: (l) => io.stderr.write(l) }, 'bridge');
  for (const w of config.warnings) log.warn(w);
  if (v.check) return void io.stdout.write(`${str(v, 'config')}: ${count(config.connections.length, 'bridge connection')}, OK\n`), ExitCode.ok;
  const tls = tlsOptions(v);
  const running: Array<{ bridge: Bridge; spool: Spool }> = [];
  try {
    for (const c of config.connections) {
      const spool = new Spool(spoolOptions(v, io.env, `bridge-${c.name}`));
      const { recovered, truncated } = openSpool(spool);
      const clog = log.child(c.name);
      if (recovered) clog.info(`spool ${spool.opts.dir}: ${count(recovered, 'message')} from the last run will be forwarded`);
      if (truncated) clog.warn(`spool: cut ${truncated} bytes of a torn record (power loss during a write)`);
      const connTls = { ca: c.cafile ? readFileSync(c.cafile) : tls.ca, insecure: c.insecure || tls.insecure };
      const bridge = new Bridge(c, spool, connTls, clog);
      running.push({ bridge, spool });
      bridge.start();
    }
    await aborted(io.signal);
    log.info('stopping');
    return ExitCode.ok;
  } finally {
    for (const r of running) r.bridge.stop();
    await new Promise((r) => setTimeout(r, 100));
    for (const r of running) await r.spool.close();
  }
}

function loadConfig(v: Values): BridgeConfig {
  const file = str(v, 'config') ?? usage('--config FILE is required');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CommandError(ExitCode.config, `cannot read ${file}: ${(err as Error).message}`);
  }
  let config: BridgeConfig;
  try {
    config = parseBridgeConfig(text);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof CommandError) throw new CommandError(ExitCode.config, `${file}: ${err.message}`);
    throw err;
  }
  const url = str(v, 'url');
  if (url !== undefined && !/^wss?:\/\/[^/]/.test(url)) usage(`-L must be the edge's ws:// or wss:// URL, not "${url}"`);
  const local = str(v, 'local');
  for (const c of config.connections) {
    if (url) c.addresses = [url];
    if (local) c.localAddress = local;
    if (c.addresses.length === 0) throw new CommandError(ExitCode.config, `${file}: connection ${c.name} has no address (give the edge URL there or with -L)`);
  }
  return config;
}

function openSpool(spool: Spool): { recovered: number; truncated: number } {
  try {
    return spool.open();
  } catch (err) {
    if (err instanceof CommandError) throw err;
    throw new CommandError(ExitCode.config, `cannot open spool ${spool.opts.dir}: ${(err as Error).message}`);
  }
}
