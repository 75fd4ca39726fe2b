// contrib/: the init script really starts, reports and stops the bundled agent (with a real
// mosquitto_pub through the tunnel it runs), and systemd accepts the unit file. Installing: the
// one file copied onto the PATH runs by itself; the committed lockfile matches package.json.
import assert from 'node:assert/strict';
import { copyFileSync, chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { agentNode, bin, tempDir } from './helpers/agent.mjs';
import { pub, sub } from './helpers/mosquitto-clients.mjs';
import { startMosquitto } from './helpers/mosquitto.mjs';
import { freePort, run } from './helpers/procs.mjs';
import lib from '../dist/index.js';

const contrib = new URL('../contrib/', import.meta.url).pathname;

describe('contrib', () => {
  let edge;
  before(async () => {
    edge = await startMosquitto({ websockets: true }); // a stand-in edge: this checks the service wrapper, not the tunnel
  });
  after(() => edge?.stop());

  test('init script: start, status 0, the tunnel carries mosquitto_pub, stop, status 3', async () => {
    const dir = tempDir('initd');
    const port = await freePort();
    const defaults = join(dir, 'default');
    writeFileSync(defaults, `DEVICE_AGENT_ARGS="tunnel -L ${edge.url} --listen 127.0.0.1:${port}"\n`);
    const env = { DEFAULTS: defaults, NODE: agentNode, DAEMON: bin, PIDFILE: join(dir, 'pid'), LOGFILE: join(dir, 'log'), DEVICE_AGENT_SPOOL: dir };
    const script = join(contrib, 'init.d/device-agent');
    const ctl = (action) => run('sh', [script, action], { env });
    try {
      const started = await ctl('start');
      assert.equal(started.code, 0, started.stderr);
      assert.equal((await ctl('status')).code, 0);
      assert.match((await ctl('start')).stdout, /already running/);
      const s = await sub(port, ['-t', 'svc/t', '-C', '1']);
      assert.equal((await pub(port, ['-t', 'svc/t', '-m', 'via init.d'])).code, 0);
      assert.equal(await s.exit(), 0);
      assert.deepEqual(s.messages(), ['via init.d']);
    } finally {
      const stopped = await ctl('stop');
      assert.equal(stopped.code, 0, stopped.stderr);
    }
    assert.equal((await ctl('status')).code, 3);
    const log = readFileSync(join(dir, 'log'), 'utf8');
    assert.match(log, /info tunnel: listening on/);
    assert.match(log, /info tunnel: stopping/, 'SIGTERM shut the agent down cleanly');
  });

  test('init script without DEVICE_AGENT_ARGS refuses to start', async () => {
    const dir = tempDir('initd');
    writeFileSync(join(dir, 'default'), '# nothing\n');
    const r = await run('sh', [join(contrib, 'init.d/device-agent'), 'start'], { env: { DEFAULTS: join(dir, 'default'), PIDFILE: join(dir, 'pid'), LOGFILE: join(dir, 'log') } });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /set DEVICE_AGENT_ARGS/);
  });

  test('systemd unit: systemd-analyze verify accepts it; it runs the bundle and never restarts on a usage or config error', async (t) => {
    const unit = readFileSync(join(contrib, 'device-agent.service'), 'utf8');
    assert.match(unit, /^ExecStart=.*node .*device-agent\.js \$DEVICE_AGENT_ARGS$/m);
    assert.match(unit, new RegExp(`^RestartPreventExitStatus=${lib.ExitCode.usage} ${lib.ExitCode.config}$`, 'm'));
    const verify = await run('systemd-analyze', ['verify', join(contrib, 'device-agent.service')]).catch(() => undefined);
    if (!verify) return t.skip('systemd-analyze is not installed');
    assert.equal(verify.code, 0, verify.stderr);
    assert.equal(verify.stderr.trim(), '');
  });

  test('install: dist/device-agent.js copied alone into a PATH directory runs as `device-agent`', async () => {
    const binDir = join(tempDir('install'), 'bin');
    mkdirSync(binDir);
    copyFileSync(bin, join(binDir, 'device-agent'));
    chmodSync(join(binDir, 'device-agent'), 0o755);
    const env = { PATH: `${binDir}:${dirname(agentNode)}:/usr/bin:/bin` };
    const version = await run('sh', ['-c', 'cd / && device-agent --version'], { env });
    assert.deepEqual([version.code, version.stderr], [0, '']);
    assert.match(version.stdout, /^device-agent \d+\.\d+\.\d+\n$/);
    const help = await run('sh', ['-c', 'device-agent tunnel --help'], { env });
    assert.equal(help.code, 0, help.stderr);
  });

  test('the committed lockfile agrees with package.json, so npm install leaves git clean', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    const root = JSON.parse(readFileSync(new URL('../package-lock.json', import.meta.url), 'utf8')).packages[''];
    for (const field of ['engines', 'dependencies', 'devDependencies', 'bin', 'license', 'version']) {
      assert.deepEqual(root[field], pkg[field], field);
    }
  });
});
