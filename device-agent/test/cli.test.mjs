// The command line itself: --help on every command, and the exit codes a script can rely on
// for bad options (2), bad configuration (3) and a port that cannot be listened on (6).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { agent, tempDir } from './helpers/agent.mjs';

describe('device-agent command line', () => {
  for (const command of ['tunnel', 'bridge', 'pub', 'sub']) {
    test(`${command} --help prints its usage and exits 0`, async () => {
      const r = await agent([command, '--help']);
      assert.equal(r.code, 0);
      assert.match(r.stdout, new RegExp(`^device-agent ${command}: `));
      assert.match(r.stdout, /Exit codes:/);
    });
  }

  test('--help and no command print the command list (0 and 2); an unknown command is 2', async () => {
    const help = await agent(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Commands:\n {2}tunnel .*\n[\s\S]* bridge [\s\S]* pub [\s\S]* sub /);
    assert.equal((await agent([])).code, 2);
    assert.equal((await agent(['frobnicate'])).code, 2);
  });

  test('bridge: an invalid configuration is exit code 3 and names the line; --check accepts a valid one', async () => {
    const dir = tempDir('conf');
    const bad = join(dir, 'bad.conf');
    writeFileSync(bad, 'connection edge\naddress ws://127.0.0.1:1/mqtt\ntopic sensors/# sideways 1\n');
    const r = await agent(['bridge', '-c', bad, '--spool', dir]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /bad\.conf: line 3: topic direction must be in, out or both/);
    const missing = await agent(['bridge', '-c', join(dir, 'nope.conf')]);
    assert.equal(missing.code, 3);
    const good = join(dir, 'good.conf');
    writeFileSync(good, 'connection edge\naddress wss://edge.example.com/mqtt\ntopic sensors/# out 1\ntry_private true\n');
    const ok = await agent(['bridge', '-c', good, '--check']);
    assert.equal(ok.code, 0);
    assert.match(ok.stdout, /1 bridge connection\(s\), OK/);
    assert.match(ok.stderr, /line 4: try_private does not apply/);
    assert.equal((await agent(['bridge'])).code, 2, 'no -c');
    assert.equal((await agent(['bridge', '-c', good, '-L', 'mqtt://x'])).code, 2, '-L must be ws(s)');
  });

  test('bridge without an address and without -L is exit code 3', async () => {
    const dir = tempDir('conf');
    const file = join(dir, 'noaddr.conf');
    writeFileSync(file, 'connection edge\ntopic a/#\n');
    const r = await agent(['bridge', '-c', file, '--spool', dir]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /no address/);
  });

  test('tunnel: a port already taken is exit code 6; a missing -L or a bad --fsync is 2; an unwritable spool is 3', async () => {
    const blocker = createServer();
    await new Promise((r) => blocker.listen(0, '127.0.0.1', r));
    const { port } = blocker.address();
    const taken = await agent(['tunnel', '-L', 'ws://127.0.0.1:1/mqtt', '--listen', `127.0.0.1:${port}`]);
    blocker.close();
    assert.equal(taken.code, 6);
    assert.match(taken.stderr, /cannot listen on 127\.0\.0\.1:\d+/);
    assert.equal((await agent(['tunnel', '--listen', '127.0.0.1:0'])).code, 2);
    assert.equal((await agent(['tunnel', '-L', 'ws://h/mqtt', '--buffer', '--fsync', 'sometimes'])).code, 2);
    const file = join(tempDir('conf'), 'a-file');
    writeFileSync(file, '');
    const unwritable = await agent(['tunnel', '-L', 'ws://127.0.0.1:1/mqtt', '--buffer', '--spool', file, '--listen', '127.0.0.1:0']);
    assert.equal(unwritable.code, 3);
    assert.match(unwritable.stderr, /cannot open spool/);
  });
});
