// `npm start`: serves a Worker locally on workerd through Miniflare's API, with no per-event
// tracing and no dev proxy in front of it (docs/BENCHMARKS.md, "How the broker is started").
// Bindings, Durable Objects (SQLite), assets and the [build] command come from wrangler.toml, read
// by wrangler itself, the Worker bundled with esbuild (scripts/local-worker.ts), with local
// stand-ins for the rule actions' Queue, R2, D1 and Analytics Engine bindings. State goes where `wrangler dev` keeps it (<persist-to>/v3), so both serve
// the same data. No hot reload: `npm run dev` (wrangler dev) has it, and the local dashboard.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { convertV4MiniflareOptions, Log, LogLevel, Miniflare } from 'miniflare';
import { localWorker } from './local-worker.ts';

const usage = `usage: node scripts/start.ts [--config wrangler.toml] [--ip 127.0.0.1] [--port 8787]
  [--persist-to .wrangler/state] [--inspector-port N] [--log-level debug|log|warn|error|none]
  [--var NAME:VALUE]... [--rules rules.json]`;

const logLevels: Record<string, LogLevel> = {
  debug: LogLevel.DEBUG, log: LogLevel.INFO, info: LogLevel.INFO, warn: LogLevel.WARN, error: LogLevel.ERROR, none: LogLevel.NONE,
};

interface Options {
  config: string;
  ip?: string;
  port?: number;
  persistTo: string;
  inspectorPort?: number;
  logLevel: LogLevel;
  /** `--var NAME:VALUE`, as on `wrangler dev`: the value is everything after the first colon; a later one wins. */
  vars: Record<string, string>;
}

function readRulesFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`--rules ${path}: ${(err as Error).message}`);
  }
}

/** The command line, or an Error whose message says what is wrong with it. */
function options(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', default: 'wrangler.toml' },
      ip: { type: 'string' },
      port: { type: 'string' },
      'persist-to': { type: 'string', default: '.wrangler/state' },
      'inspector-port': { type: 'string' },
      'log-level': { type: 'string', default: 'log' },
      var: { type: 'string', multiple: true, default: [] },
      rules: { type: 'string' },
    },
  });
  const port = (name: string, v?: string) => {
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v) || Number(v) > 65535) throw new Error(`--${name} ${v}: not a port number`);
    return Number(v);
  };
  const logLevel = logLevels[values['log-level']];
  if (logLevel === undefined) throw new Error(`--log-level ${values['log-level']}: not one of ${Object.keys(logLevels).join(', ')}`);
  const vars: Record<string, string> = {};
  for (const v of values.var) {
    const colon = v.indexOf(':');
    if (colon < 1) throw new Error(`--var ${v}: not NAME:VALUE`);
    vars[v.slice(0, colon)] = v.slice(colon + 1);
  }
  // the Worker has no files: the rules file's contents become MQTT_RULES_FILE, as a deploy's secret would
  if (values.rules !== undefined) vars.MQTT_RULES_FILE = readRulesFile(values.rules);
  return {
    config: values.config, ip: values.ip, port: port('port', values.port), persistTo: values['persist-to'],
    inspectorPort: port('inspector-port', values['inspector-port']), logLevel, vars,
  };
}

let opts: Options;
try {
  opts = options(process.argv.slice(2));
} catch (err) {
  console.error(`${(err as Error).message}\n${usage}`);
  process.exit(2);
}

const { name, config, worker, bindings, sinks } = await localWorker(opts.config, opts.vars);

const mf = new Miniflare(convertV4MiniflareOptions({
  host: opts.ip ?? config.dev.ip ?? '127.0.0.1',
  port: opts.port ?? config.dev.port ?? 8787,
  inspectorPort: opts.inspectorPort ?? 0, // uncaught exceptions are reported there only (below)
  resourcePersistencePath: join(resolve(opts.persistTo), 'v3'),
  cf: false, // the placeholder request.cf: nothing to fetch
  log: new Log(opts.logLevel),
  workers: [worker],
}));
const url = await mf.ready;
// workerd takes one inspector session per Worker: a debugger or profiler given --inspector-port
// gets it, and shows the uncaught exceptions itself
if (opts.inspectorPort === undefined) await reportUncaught(mf, name);
console.log(`${config.name} on workerd (Miniflare: no per-event tracing; \`npm run dev\` for wrangler's dashboard)`);
console.log(`  MQTT over WebSocket: ws://${url.host}/mqtt`);
if (config.assets) console.log(`  console:             ${url.origin}/    gauge: ${url.origin}/gauge    rules: ${url.origin}/rules`);
console.log(`  HTTP API:            ${url.origin}/api/stats${bindings.MQTT_ADMIN_TOKEN ? '' : '   (open: no MQTT_ADMIN_TOKEN set)'}`);
console.log(`  plain TCP devices:   device-agent tunnel -L ws://${url.host}/mqtt   (device-agent/README.md)`);
if (String(bindings.MQTT_ALLOW_ANONYMOUS) === 'true') console.log('  anonymous clients are allowed (MQTT_ALLOW_ANONYMOUS=true): local use only');
if (sinks.length) console.log(`  rule action sinks:   ${sinks.join(', ')} (local Queue, R2, D1, Analytics Engine; README "Rule actions")`);
if (opts.inspectorPort !== undefined) {
  console.log(`  inspector:           ws://127.0.0.1:${opts.inspectorPort}/core:user:${name} (uncaught exceptions show there)`);
}
// Ctrl-C, SIGTERM, SIGHUP: Miniflare's own exit hook stops workerd, then exits (test/e2e/start.test.ts)

interface ExceptionThrown {
  timestamp: number;
  exceptionDetails: { text: string; stackTrace?: { callFrames: Array<{ functionName: string; url: string; lineNumber: number; columnNumber: number }> } };
}

/**
 * Prints the Worker's and its objects' uncaught exceptions, as `wrangler dev` does: workerd
 * reports them to an inspector session only (Runtime.exceptionThrown), not to its output, and
 * reports each twice (V8's report with the stack, then its own): the second is left out.
 * Frames point into the bundle (the inline source map is not applied).
 */
async function reportUncaught(mf: Miniflare, worker: string): Promise<void> {
  const session = new WebSocket(new URL(`/core:user:${worker}`, await mf.getInspectorURL()));
  let last = '';
  session.onopen = () => session.send(JSON.stringify({ id: 1, method: 'Runtime.enable' }));
  session.onmessage = (event) => {
    const msg = JSON.parse(String(event.data)) as { method?: string; params?: ExceptionThrown };
    if (msg.method !== 'Runtime.exceptionThrown') return;
    const { timestamp, exceptionDetails: { text, stackTrace } } = msg.params!;
    if (`${timestamp} ${text}` === last) return;
    last = `${timestamp} ${text}`;
    const frames = (stackTrace?.callFrames ?? []).map((f) => `\n    at ${f.functionName || '<anonymous>'} (${f.url}:${f.lineNumber + 1}:${f.columnNumber + 1})`);
    console.error(`✘ ${text}${frames.join('')}`);
  };
  session.onerror = () => console.error(`(uncaught exceptions of ${worker} cannot be reported: no inspector session)`);
  await new Promise((resolve) => session.addEventListener('open', resolve, { once: true }));
}
