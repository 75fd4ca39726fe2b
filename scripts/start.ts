// `npm start`: serves a Worker locally on workerd through Miniflare's API, with no per-event
// tracing and no dev proxy in front of it (docs/BENCHMARKS.md, "How the broker is started").
// Bindings, Durable Objects (SQLite), assets and the [build] command come from wrangler.toml, read
// by wrangler itself (unstable_readConfig, unstable_getMiniflareWorkerOptions); the Worker is
// bundled with esbuild. State goes where `wrangler dev` keeps it (<persist-to>/v3), so both serve
// the same data. No hot reload: `npm run dev` (wrangler dev) has it, and the local dashboard.
//
//   node scripts/start.ts [--config wrangler.toml] [--ip 127.0.0.1] [--port 8787]
//     [--persist-to .wrangler/state] [--inspector-port N] [--log-level log|warn] [--var NAME:VALUE]...
import { execSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { build, stop as stopEsbuild } from 'esbuild';
import { convertV4MiniflareOptions, Log, LogLevel, Miniflare } from 'miniflare';
import { unstable_getMiniflareWorkerOptions, unstable_readConfig } from 'wrangler';

const { values: args } = parseArgs({
  options: {
    config: { type: 'string', default: 'wrangler.toml' },
    ip: { type: 'string' },
    port: { type: 'string' },
    'persist-to': { type: 'string', default: '.wrangler/state' },
    'inspector-port': { type: 'string' },
    'log-level': { type: 'string', default: 'log' },
    var: { type: 'string', multiple: true, default: [] },
  },
});

const config = unstable_readConfig({ config: resolve(args.config) });
const root = dirname(config.configPath!);
if (config.build.command) execSync(config.build.command, { cwd: config.build.cwd ?? root, stdio: 'inherit' });

const { workerOptions, main, define } = unstable_getMiniflareWorkerOptions(config);
if (!main) throw new Error(`${config.configPath}: no main`);
// as wrangler bundles a Worker: ES modules, the runtime's own modules left to it
const bundle = await build({
  entryPoints: [main], bundle: true, format: 'esm', platform: 'neutral', target: 'es2024', write: false,
  conditions: ['workerd', 'worker', 'browser'], mainFields: ['module', 'main'], external: ['cloudflare:*', 'node:*'],
  define, sourcemap: 'inline', logLevel: 'warning',
});
await stopEsbuild(); // its service process has nothing more to do

/** `--var NAME:VALUE`, as on `wrangler dev`: the value is everything after the first colon. */
const vars = Object.fromEntries(args.var.map((v) => [v.slice(0, v.indexOf(':')), v.slice(v.indexOf(':') + 1)]));
const ip = args.ip ?? config.dev.ip ?? '127.0.0.1';
const port = Number(args.port ?? config.dev.port ?? 8787);

const mf = new Miniflare(convertV4MiniflareOptions({
  host: ip, port,
  inspectorPort: args['inspector-port'] ? Number(args['inspector-port']) : undefined,
  resourcePersistencePath: join(resolve(args['persist-to']), 'v3'),
  cf: false, // the placeholder request.cf: nothing to fetch
  log: new Log(args['log-level'] === 'warn' ? LogLevel.WARN : LogLevel.INFO),
  workers: [{
    ...workerOptions,
    name: config.name,
    modules: [{ type: 'ESModule', path: join(root, 'worker.js'), contents: bundle.outputFiles[0].text }],
    bindings: { ...(workerOptions.bindings as Record<string, string>), ...vars },
  }],
}));
const url = await mf.ready;
const ws = `ws://${url.host}`;
console.log(`${config.name} on workerd (Miniflare, no per-event tracing; \`npm run dev\` for wrangler's dashboard)`);
console.log(`  MQTT over WebSocket: ${ws}/mqtt`);
if (config.assets) console.log(`  console:             ${url.origin}/`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    void mf.dispose().finally(() => process.exit(0));
  });
}
