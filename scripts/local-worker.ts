// The broker Worker as Miniflare runs it locally, built the way wrangler builds it: bindings,
// Durable Objects, assets and the [build] command from wrangler.toml (read by wrangler itself:
// unstable_readConfig, unstable_getMiniflareWorkerOptions), the code bundled with esbuild. Used by
// `npm start` (scripts/start.ts) and by tests that put other Workers beside it.
import { execSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { build, stop as stopEsbuild } from 'esbuild';
import type { V4WorkerOptions } from 'miniflare';
import { unstable_getMiniflareWorkerOptions, unstable_readConfig } from 'wrangler';

/**
 * Local stand-ins for the rule actions' bindings that wrangler.toml shows commented out (README,
 * "Rule actions"): a Queue, an R2 bucket, a D1 database and an Analytics Engine dataset, kept with
 * the rest of the local state. A binding wrangler.toml declares under the same name wins.
 */
export const localSinks = {
  queueProducers: { RULES_QUEUE: { queueName: 'mqtt-rules' } },
  r2Buckets: { RULES_ARCHIVE: 'mqtt-archive' },
  d1Databases: { RULES_DB: 'mqtt-rules-db' },
  analyticsEngineDatasets: { RULES_ANALYTICS: { dataset: 'mqtt_rules' } },
} as const;

type Options = Record<string, unknown>;

function withSinks(worker: Options): { worker: Options; added: string[] } {
  const added: string[] = [];
  const out: Options = { ...worker };
  const taken = new Set(Object.values(worker).flatMap((v) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.keys(v) : [])));
  for (const [kind, bindings] of Object.entries(localSinks)) {
    const free = Object.fromEntries(Object.entries(bindings).filter(([name]) => !taken.has(name)));
    added.push(...Object.keys(free));
    out[kind] = { ...free, ...(worker[kind] as Options | undefined) };
  }
  return { worker: out, added };
}

export interface LocalWorker {
  name: string;
  config: ReturnType<typeof unstable_readConfig>;
  /** Miniflare (v4-style) worker options: its modules, bindings and `vars` applied. */
  worker: V4WorkerOptions;
  /** Plain-text bindings and vars, as the Worker sees them. */
  bindings: Record<string, unknown>;
  /** Names of the local sink stand-ins added. */
  sinks: string[];
}

export async function localWorker(configPath: string, vars: Record<string, string>, sinks = true): Promise<LocalWorker> {
  const config = unstable_readConfig({ config: resolve(configPath) });
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
  const bindings = { ...(workerOptions.bindings as Record<string, unknown>), ...vars };
  const base: Options = {
    ...workerOptions,
    name: config.name,
    modules: [{ type: 'ESModule', path: join(root, 'worker.js'), contents: bundle.outputFiles[0].text }],
    bindings,
  };
  const { worker, added } = sinks ? withSinks(base) : { worker: base, added: [] };
  return { name: config.name!, config, worker: worker as V4WorkerOptions, bindings, sinks: added };
}
