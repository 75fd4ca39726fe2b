// The command line itself: --help on every command, and the exit codes a script can rely on
// for bad options (2), bad configuration (3) and a port that cannot be listened on (6).
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { agent, tempDir } from './helpers/agent.mjs';
import { freePort } from './helpers/procs.mjs';
import lib from '../dist/index.js';

const { reason, connackReason, clientLabel, count, networkError } = lib;

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
    assert.match(ok.stdout, /1 bridge connection, OK/);
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
    const noBuffer = await agent(['tunnel', '-L', 'ws://h/mqtt', '--edge-keepalive', '3600']);
    assert.deepEqual([noBuffer.code, /--edge-keepalive needs --buffer/.test(noBuffer.stderr)], [2, true], noBuffer.stderr);
    const noPings = await agent(['tunnel', '-L', 'ws://h/mqtt', '--buffer', '--edge-keepalive', '3600', '--stall-timeout', '0']);
    assert.deepEqual([noPings.code, /--edge-keepalive 3600 needs --stall-timeout/.test(noPings.stderr)], [2, true], noPings.stderr);
    assert.equal((await agent(['tunnel', '-L', 'ws://h/mqtt', '--buffer', '--edge-keepalive', '65536'])).code, 2);
    const file = join(tempDir('conf'), 'a-file');
    writeFileSync(file, '');
    const unwritable = await agent(['tunnel', '-L', 'ws://127.0.0.1:1/mqtt', '--buffer', '--spool', file, '--listen', '127.0.0.1:0']);
    assert.equal(unwritable.code, 3);
    assert.match(unwritable.stderr, /cannot open spool/);
  });

  test('--version prints the version (0); -h alone is help, as is `help`; an unknown command is named', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    for (const args of [['--version'], ['-V']]) {
      const r = await agent(args);
      assert.deepEqual([r.code, r.stdout], [0, `device-agent ${pkg.version}\n`]);
    }
    for (const args of [['-h'], ['help'], ['tunnel', '-h'], ['pub', '-h'], ['sub', '-t', 'x', '-h'], ['bridge', '-h']]) {
      const r = await agent(args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, /^device-agent/);
    }
    const unknown = await agent(['frobnicate']);
    assert.match(unknown.stderr, /^Error: unknown command frobnicate\n/);
  });

  test('usage errors name the option plainly, with no nested quotes', async () => {
    const cases = [
      [['pub', '--frob'], 'unknown option --frob'],
      [['pub', '-t'], '-t needs a value'],
      [['pub', '-t', 'a', '-m', 'x', 'extra'], 'unexpected argument extra'],
      [['pub', '--retain=1', '-t', 'a', '-m', 'x'], '-r takes no value'],
      [['tunnel', '--bogus'], 'unknown option --bogus'],
    ];
    for (const [args, message] of cases) {
      const r = await agent(args);
      assert.equal(r.code, 2);
      assert.equal(r.stderr, `Error: ${message}\nUse --help to see the options.\n`);
    }
  });

  test('a value that starts with "-" is taken as the value (-m -3, -t -x), as mosquitto_pub does', async () => {
    const port = await freePort();
    const r = await agent(['pub', '-L', `ws://127.0.0.1:${port}/mqtt`, '-t', '-x', '-m', '-3']);
    assert.equal(r.code, 4, r.stderr); // parsed, then the broker is unreachable
  });

  test('wss:// to a port without TLS says so in words (no OpenSSL dump); the URL appears once', async () => {
    const plain = createServer((s) => s.once('data', () => s.end('HTTP/1.1 400 Bad Request\r\n\r\n')));
    await new Promise((r) => plain.listen(0, '127.0.0.1', r));
    const r = await agent(['pub', '-L', `wss://127.0.0.1:${plain.address().port}/mqtt`, '-t', 'a', '-m', '1']);
    plain.close();
    assert.equal(r.code, 4);
    assert.match(r.stderr, /^Error: cannot connect to wss:\/\/127\.0\.0\.1:\d+\/mqtt: TLS handshake failed: the server does not speak TLS on this port/);
    assert.doesNotMatch(r.stderr, /SSL routines|openssl/);
    assert.equal(r.stderr.split('wss://').length, 2);
  });

  test('every reason code is shown with its name; clients and counts one way', () => {
    assert.equal(reason(0x87, 'puback'), '0x87 NotAuthorized');
    assert.equal(reason(0x00, 'disconnect'), '0x00 NormalDisconnection');
    assert.equal(reason(0x98, 'disconnect'), '0x98 AdministrativeAction');
    assert.equal(reason(0x8f, 'suback'), '0x8f TopicFilterInvalid');
    assert.equal(reason(0x7e), '0x7e');
    assert.equal(connackReason(0x86, 5), '0x86 BadUserNameOrPassword');
    assert.equal(connackReason(5, 4), 'return code 5 NotAuthorized');
    assert.equal(connackReason(9, 3), 'return code 9');
    assert.equal(clientLabel('sensor-1', '127.0.0.1:5'), 'client "sensor-1" (127.0.0.1:5)');
    assert.equal(clientLabel('', '127.0.0.1:5'), 'client without id (127.0.0.1:5)');
    assert.deepEqual([count(1, 'message'), count(0, 'message'), count(12, 'message')], ['1 message', '0 messages', '12 messages']);
    assert.equal(networkError(Object.assign(new Error('getaddrinfo ENOTFOUND x.invalid'), { code: 'ENOTFOUND', hostname: 'x.invalid' })), 'host x.invalid not found (DNS)');
  });
});
