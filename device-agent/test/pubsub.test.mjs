// device-agent pub / sub against the broker on workerd, option by option (mosquitto_pub/_sub's
// letters plus -L for ws:// URLs); credentials against a mosquitto that checks them.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { agent, startAgent, tempDir } from './helpers/agent.mjs';
import { namespaceUrl, startEdge } from './helpers/edge.mjs';
import { startMosquitto } from './helpers/mosquitto.mjs';
import { observe } from './helpers/observer.mjs';
import { freePort, sleep } from './helpers/procs.mjs';

let edge;
let url;

before(async () => {
  edge = await startEdge();
  url = namespaceUrl(edge, 'pubsub');
});
after(() => edge?.stop());

/** `device-agent sub` running until SUBACK (seen through -d). */
async function subscribe(args) {
  const s = startAgent(['sub', '-L', url, '-d', ...args]);
  await s.waitFor(/subscribed/);
  return s;
}

const stdoutOf = async (s) => {
  await s.exited;
  return s.output.split('\n').filter((l) => l && !/^(Debug|Info|Warning|Error): /.test(l));
};

describe('pub and sub against the broker on workerd', () => {
  test('the seed workflow: pub -t temp/random -m 23.0 reaches sub -t temp/random', async () => {
    const s = await subscribe(['-t', 'temp/random', '-C', '1']);
    const p = await agent(['pub', '-L', url, '-t', 'temp/random', '-m', '23.0']);
    assert.equal(p.code, 0, p.stderr);
    assert.equal(await s.exited, 0);
    assert.deepEqual(await stdoutOf(s), ['23.0']);
  });

  test('values that start with "-" are values, as for mosquitto_pub: -m -3, --will-payload -1', async () => {
    const s = await subscribe(['-t', 'neg/#', '-C', '2', '-v']);
    const p = await agent(['pub', '-L', url, '-t', 'neg/a', '-m', '-3']);
    assert.equal(p.code, 0, p.stderr);
    const q = await agent(['pub', '-L', url, '-t', 'neg/b', '-m', '--', '-q', '1']);
    assert.equal(q.code, 0, q.stderr);
    assert.equal(await s.exited, 0);
    assert.deepEqual(await stdoutOf(s), ['neg/a -3', 'neg/b --']);
  });

  test('-h and -p build ws://host:port/mqtt (the default namespace)', async () => {
    const watcher = await observe(edge.url);
    await watcher.subscribe('hp/#');
    const p = await agent(['pub', '-h', '127.0.0.1', '-p', String(edge.port), '-t', 'hp/x', '-m', 'via -h -p']);
    assert.equal(p.code, 0, p.stderr);
    assert.equal((await watcher.count(1))[0].payload, 'via -h -p');
    await watcher.end();
  });

  for (const qos of ['0', '1', '2']) {
    for (const v of ['mqttv31', 'mqttv311', 'mqttv5']) {
      test(`-q ${qos} -V ${v}: the message arrives at QoS ${qos}`, async () => {
        const watcher = await observe(url);
        await watcher.subscribe(`q/${v}/${qos}`, 2);
        const p = await agent(['pub', '-L', url, '-t', `q/${v}/${qos}`, '-m', 'x', '-q', qos, '-V', v, '-i', `p${qos}${v.slice(-2)}`]);
        assert.equal(p.code, 0, p.stderr);
        assert.equal((await watcher.count(1))[0].qos, Number(qos));
        await watcher.end();
      });
    }
  }

  test('-r retains; sub prints it with -v, hides it with -R (then -W ends with 27), --retained-only ends at a live one', async () => {
    assert.equal((await agent(['pub', '-L', url, '-t', 'ret/a', '-m', 'kept', '-r', '-q', '1'])).code, 0);
    const s = await agent(['sub', '-L', url, '-t', 'ret/#', '-v', '-C', '1']);
    assert.deepEqual([s.code, s.stdout], [0, 'ret/a kept\n']);
    const hidden = await agent(['sub', '-L', url, '-t', 'ret/#', '-R', '-W', '1']);
    assert.deepEqual([hidden.code, hidden.stdout, hidden.stderr.trim()], [27, '', 'Timed out']);
    const only = await subscribe(['-t', 'ret/#', '--retained-only']);
    await agent(['pub', '-L', url, '-t', 'ret/b', '-m', 'live']);
    assert.equal(await only.exited, 0);
    assert.deepEqual(await stdoutOf(only), ['kept']);
  });

  test('-f file, -n, -s (all of stdin) and -l (a message per line); -N prints without newlines', async () => {
    const file = join(tempDir(), 'payload.txt');
    writeFileSync(file, 'from a file');
    const s = await subscribe(['-t', 'src/#', '-C', '6', '-N', '-v']);
    assert.equal((await agent(['pub', '-L', url, '-t', 'src/f', '-f', file, '-q', '1'])).code, 0);
    assert.equal((await agent(['pub', '-L', url, '-t', 'src/n', '-n', '-q', '1'])).code, 0);
    assert.equal((await agent(['pub', '-L', url, '-t', 'src/s', '-s', '-q', '1'], { input: 'all\nof it' })).code, 0);
    assert.equal((await agent(['pub', '-L', url, '-t', 'src/l', '-l', '-q', '1'], { input: 'one\ntwo\nthree\n' })).code, 0);
    assert.equal(await s.exited, 0);
    assert.equal((await stdoutOf(s)).join('\n'), 'src/f from a filesrc/n src/s all\nof itsrc/l onesrc/l twosrc/l three');
  });

  test('-T filters topics out; -C counts only printed messages', async () => {
    const s = await subscribe(['-t', 'flt/#', '-T', 'flt/noise/#', '-v', '-C', '2']);
    for (const t of ['flt/noise/a', 'flt/a', 'flt/noise/b', 'flt/b']) await agent(['pub', '-L', url, '-t', t, '-m', t, '-q', '1']);
    assert.equal(await s.exited, 0);
    assert.deepEqual(await stdoutOf(s), ['flt/a flt/a', 'flt/b flt/b']);
  });

  test('-c -i keep a session: -E subscribes and exits, a QoS 1 message waits, -U removes the subscription', async () => {
    const id = `persist-${process.pid}`;
    const e = await agent(['sub', '-L', url, '-c', '-i', id, '-q', '1', '-t', 'sess/#', '-E']);
    assert.equal(e.code, 0, e.stderr);
    await agent(['pub', '-L', url, '-t', 'sess/x', '-m', 'waited', '-q', '1']);
    const later = await agent(['sub', '-L', url, '-c', '-i', id, '-q', '1', '-t', 'sess/#', '-C', '1', '-W', '10']);
    assert.deepEqual([later.code, later.stdout], [0, 'waited\n']);
    const un = await agent(['sub', '-L', url, '-c', '-i', id, '-U', 'sess/#']);
    assert.equal(un.code, 0, un.stderr);
    await agent(['pub', '-L', url, '-t', 'sess/y', '-m', 'nobody', '-q', '1']);
    const none = await agent(['sub', '-L', url, '-c', '-i', id, '-t', 'other', '-W', '1']);
    assert.deepEqual([none.code, none.stdout], [27, '']);
  });

  test('--repeat publishes N times; -x (MQTT 5 session expiry) keeps a session with -c, -I names the client by prefix', async () => {
    const s = await subscribe(['-t', 'rep/x', '-C', '3', '-q', '1']);
    assert.equal((await agent(['pub', '-L', url, '-t', 'rep/x', '-m', 'again', '-q', '1', '--repeat', '3', '--repeat-delay', '0.05'])).code, 0);
    assert.equal(await s.exited, 0);
    assert.deepEqual(await stdoutOf(s), ['again', 'again', 'again']);
    const id = `x5-${process.pid}`;
    assert.equal((await agent(['sub', '-L', url, '-V', 'mqttv5', '-c', '-x', '300', '-i', id, '-q', '1', '-t', 'x5/#', '-E'])).code, 0);
    assert.equal((await agent(['pub', '-L', url, '-t', 'x5/a', '-m', 'kept for 300 s', '-q', '1', '-I', 'pfx-'])).code, 0);
    const later = await agent(['sub', '-L', url, '-V', 'mqttv5', '-c', '-x', '300', '-i', id, '-q', '1', '-t', 'x5/#', '-C', '1', '-W', '10']);
    assert.deepEqual([later.code, later.stdout], [0, 'kept for 300 s\n']);
    const prefixed = await agent(['pub', '-L', url, '-t', 'x5/b', '-m', 'y', '-I', 'pfx-', '-d']);
    assert.match(prefixed.stderr, /as pfx-\d+ /);
  });

  test('-k 1: keepalive pings hold an idle connection open past the broker\'s 1.5 x keepalive', async () => {
    const s = await subscribe(['-t', 'ka/x', '-k', '1', '-C', '1', '-W', '15']);
    await sleep(4_500);
    await agent(['pub', '-L', url, '-t', 'ka/x', '-m', 'still here']);
    assert.equal(await s.exited, 0);
    assert.deepEqual(await stdoutOf(s), ['still here']);
    assert.doesNotMatch(s.output, /connection lost/);
  });

  test('--will-topic: the will of a sub killed with SIGKILL is published', async () => {
    const watcher = await observe(url);
    await watcher.subscribe('will/#', 1);
    const s = await subscribe(['-t', 'nothing', '--will-topic', 'will/sub', '--will-payload', 'bye', '--will-qos', '1', '-V', 'mqttv5']);
    await s.stop('SIGKILL');
    assert.equal((await watcher.count(1))[0].payload, 'bye');
    await watcher.end();
  });

  test('SIGINT ends sub with 0 and no will', async () => {
    const watcher = await observe(url);
    await watcher.subscribe('will2/#', 1);
    const s = await subscribe(['-t', 'nothing', '--will-topic', 'will2/sub', '--will-payload', 'bye']);
    assert.equal(await s.stop('SIGINT'), 0);
    await sleep(500);
    assert.deepEqual(watcher.items, []);
    await watcher.end();
  });
});

describe('exit codes and credentials', () => {
  let guarded;
  before(async () => {
    guarded = await startMosquitto({ websockets: true, users: { alice: 'wonder' } });
  });
  after(() => guarded?.stop());

  test('-u/-P and user:password@ in -L are sent; a wrong password is exit code 5', async () => {
    const ok = await agent(['pub', '-L', guarded.url, '-t', 'c', '-m', 'x', '-u', 'alice', '-P', 'wonder']);
    assert.equal(ok.code, 0, ok.stderr);
    const inUrl = await agent(['pub', '-L', guarded.url.replace('ws://', 'ws://alice:wonder@'), '-t', 'c', '-m', 'x']);
    assert.equal(inUrl.code, 0, inUrl.stderr);
    const bad = await agent(['pub', '-L', guarded.url, '-t', 'c', '-m', 'x', '-u', 'alice', '-P', 'nope']);
    assert.equal(bad.code, 5);
    assert.match(bad.stderr, /^Error: the broker refused the connection: return code [45] (NotAuthorized|BadUserNameOrPassword)\n/);
    const subBad = await agent(['sub', '-L', guarded.url, '-t', 'c', '-u', 'alice', '-P', 'nope', '-V', 'mqttv5']);
    assert.equal(subBad.code, 5);
  });

  test('mqtt:// URLs speak plain TCP, with the topic in the path as mosquitto_pub -L does', async () => {
    const watcher = await observe(guarded.url, { username: 'alice', password: 'wonder' });
    await watcher.subscribe('tcp/topic');
    const p = await agent(['pub', '-L', `mqtt://alice:wonder@127.0.0.1:${guarded.tcpPort}/tcp/topic`, '-m', 'over tcp']);
    assert.equal(p.code, 0, p.stderr);
    assert.equal((await watcher.count(1))[0].payload, 'over tcp');
    await watcher.end();
  });

  test('an unreachable broker is exit code 4; bad options are 2', async () => {
    const dead = await agent(['pub', '-L', `ws://127.0.0.1:${await freePort()}/mqtt`, '-t', 'a', '-m', 'b']);
    assert.equal(dead.code, 4);
    assert.match(dead.stderr, /^Error: cannot connect to ws:\/\/127\.0\.0\.1:\d+\/mqtt: connection refused: nothing listens there \(127\.0\.0\.1:\d+\)\n$/);
    for (const args of [['pub', '-t', 'a'], ['pub', '-m', 'x'], ['pub', '-t', 'a/#', '-m', 'x'], ['pub', '-t', 'a', '-m', 'x', '-q', '3'], ['sub'], ['sub', '-t', 'a', '-V', 'mqttv6'], ['pub', '--bogus']]) {
      const r = await agent(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^Error: .*\nUse --help/);
    }
  });
});
