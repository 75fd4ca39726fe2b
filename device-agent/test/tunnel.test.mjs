// tunnel (plain): real mosquitto_pub / mosquitto_sub through the agent to the broker on workerd.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startAgent, tempDir } from './helpers/agent.mjs';
import { namespaceUrl, startEdge } from './helpers/edge.mjs';
import { pub, sub } from './helpers/mosquitto-clients.mjs';
import { hs256, passwordLine } from './helpers/credentials.mjs';
import { startMosquitto } from './helpers/mosquitto.mjs';
import { observe } from './helpers/observer.mjs';
import { freePort, sleep } from './helpers/procs.mjs';
import lib from '../dist/index.js';

let edge;
let url;
let tunnel;
let port;

before(async () => {
  edge = await startEdge();
  url = namespaceUrl(edge, 'tunnel');
  port = await freePort();
  tunnel = startAgent(['tunnel', '-L', url, '--listen', `127.0.0.1:${port}`, '-d']);
  await tunnel.waitFor(/listening on/);
});

after(async () => {
  const code = await tunnel?.stop();
  await edge?.stop();
  assert.equal(code, 0, 'tunnel exits 0 on SIGTERM');
});

describe('tunnel to the broker on workerd', () => {
  for (const qos of [0, 1, 2]) {
    test(`mosquitto_pub -q ${qos} through the tunnel reaches mosquitto_sub through the tunnel and a direct client`, async () => {
      const watcher = await observe(url);
      await watcher.subscribe(`temp${qos}/#`, 2);
      const s = await sub(port, ['-t', `temp${qos}/#`, '-v', '-q', String(qos), '-C', '1']);
      const p = await pub(port, ['-t', `temp${qos}/random`, '-m', '23.0', '-q', String(qos)]);
      assert.equal(p.code, 0, p.stderr);
      assert.equal(await s.exit(), 0);
      assert.deepEqual(s.messages(), [`temp${qos}/random 23.0`]);
      const [m] = await watcher.count(1);
      assert.deepEqual([m.topic, m.payload, m.qos], [`temp${qos}/random`, '23.0', qos]);
      await watcher.end();
    });
  }

  test('a retained message published through the tunnel reaches a later subscriber with the retain flag', async () => {
    const p = await pub(port, ['-t', 'gauge/temp', '-m', '21.5', '-q', '1', '-r']);
    assert.equal(p.code, 0, p.stderr);
    const s = await sub(port, ['-t', 'gauge/temp', '-C', '1', '-F', '%r %t %p']);
    assert.equal(await s.exit(), 0);
    assert.deepEqual(s.messages(), ['1 gauge/temp 21.5']);
  });

  test('the will of a tunneled client that dies is published; a clean exit publishes none', async () => {
    const watcher = await observe(url);
    await watcher.subscribe('wills/#', 1);
    const polite = await sub(port, ['-t', 'nothing', '--will-topic', 'wills/polite', '--will-payload', 'gone', '--will-qos', '1']);
    const dying = await sub(port, ['-t', 'nothing', '--will-topic', 'wills/dying', '--will-payload', 'gone', '--will-qos', '1']);
    await polite.proc.stop('SIGINT');
    await dying.proc.stop('SIGKILL');
    const [m] = await watcher.count(1);
    assert.deepEqual([m.topic, m.payload], ['wills/dying', 'gone']);
    await sleep(500);
    assert.equal(watcher.items.length, 1, 'no will for the client that disconnected');
    await watcher.end();
  });

  test('a 256 KiB message spanning many TCP reads and WebSocket messages arrives intact', async () => {
    const file = join(tempDir(), 'big.bin');
    const big = Buffer.alloc(256 * 1024, 0);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    writeFileSync(file, big);
    const watcher = await observe(url);
    const got = new Promise((resolve) => watcher.client.on('message', (_t, payload) => resolve(payload)));
    await watcher.subscribe('big', 1);
    const p = await pub(port, ['-t', 'big', '-f', file, '-q', '1']);
    assert.equal(p.code, 0, p.stderr);
    assert.ok(Buffer.compare(await got, big) === 0, 'payload bytes equal');
    await watcher.end();
  });

  test('a board\'s own mosquitto bridges to the edge through the tunnel (its native bridge, over TCP)', async () => {
    const board = await startMosquitto({
      extra: ['connection edge', `address 127.0.0.1:${port}`, 'try_private false', 'cleansession true', 'notifications false',
        'topic board/# out 1', 'topic cmd/# in 1'],
    });
    try {
      const watcher = await observe(url);
      await watcher.subscribe('board/#', 1);
      await tunnel.waitFor(/client "[^"]*edge[^"]*".*connected to the edge/);
      const s = await sub(board.port, ['-t', 'cmd/#', '-v', '-C', '1']);
      assert.equal((await pub(board.port, ['-t', 'board/temp', '-m', '23.0', '-q', '1'])).code, 0);
      assert.deepEqual((await watcher.count(1)).map((m) => [m.topic, m.payload, m.qos]), [['board/temp', '23.0', 1]]);
      // mosquitto subscribes at the edge just after its bridge connects: publish until it is there (bounded)
      for (let i = 0; i < 50 && s.proc.child.exitCode === null; i++) {
        await watcher.publish('cmd/led', 'on', { qos: 1 });
        await sleep(100);
      }
      assert.equal(await s.exit(), 0);
      assert.deepEqual(s.messages(), ['cmd/led on']);
      await watcher.end();
    } finally {
      await board.stop();
    }
  });

  test('SIGUSR2 makes the running tunnel log its clients and memory', async () => {
    const s = await sub(port, ['-t', 'status/none']);
    tunnel.child.kill('SIGUSR2');
    await tunnel.waitFor(/info tunnel: [1-9]\d* clients?; memory: rss [\d.]+ MB, heap [\d.]+ MB of [\d.]+ MB/);
    await s.proc.stop();
  });

  test('the edge refusing the WebSocket closes the local client', async () => {
    const deadPort = await freePort();
    const lonely = startAgent(['tunnel', '-L', `ws://127.0.0.1:${deadPort}/mqtt`, '--listen', `127.0.0.1:${await freePort()}`]);
    const [, listenPort] = await lonely.waitFor(/listening on 127\.0\.0\.1:(\d+)/);
    const p = await pub(Number(listenPort), ['-t', 'x', '-m', 'y']);
    assert.notEqual(p.code, 0);
    await lonely.waitFor(/edge unreachable/);
    assert.equal(await lonely.stop(), 0);
  });
});

describe('credential injection, against the broker on workerd with anonymous clients refused', () => {
  let guarded;
  const secret = 'agent-test-secret';
  before(async () => {
    guarded = await startEdge({ vars: { MQTT_PASSWORD_FILE: passwordLine('board', 's3cret'), MQTT_JWT_SECRET: secret } });
  });
  after(() => guarded?.stop());

  const tunnelTo = async (extra, env) => {
    const p = await freePort();
    const t = startAgent(['tunnel', '-L', guarded.url, '--listen', `127.0.0.1:${p}`, ...extra], { env });
    await t.waitFor(/listening on/);
    return { port: p, t };
  };

  test('a device without credentials is refused unless the agent injects them', async () => {
    const plain = await tunnelTo([]);
    const refused = await pub(plain.port, ['-t', 'x', '-m', 'y', '-q', '1']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /not authori[sz]ed|refused/i);
    await plain.t.waitFor(/refused the connection/);
    await plain.t.stop();
  });

  for (const [how, extra, env] of [
    ['-u with the password from DEVICE_AGENT_PASSWORD', ['-u', 'board'], { DEVICE_AGENT_PASSWORD: 's3cret' }],
    ['--token (a JWT in the password)', ['--token', hs256({ sub: 'board' }, secret)], {}],
  ]) {
    test(`${how}: devices with no or wrong credentials get through, MQTT 3.1.1 and 5`, async () => {
      const { port: p, t } = await tunnelTo(extra, env);
      for (const version of ['mqttv311', 'mqttv5']) {
        const s = await sub(p, ['-t', `cred/${version}`, '-C', '1', '-v', '-V', version]);
        const pb = await pub(p, ['-t', `cred/${version}`, '-m', 'in', '-q', '1', '-V', version, '-u', 'device', '-P', 'wrong']);
        assert.equal(pb.code, 0, pb.stderr);
        assert.equal(await s.exit(), 0);
        assert.deepEqual(s.messages(), [`cred/${version} in`]);
      }
      await t.stop();
    });
  }
});

describe('tunnel endings', () => {
  test('stopping the edge closes the local TCP client', async () => {
    const standIn = await startMosquitto({ websockets: true });
    const p = await freePort();
    const t = startAgent(['tunnel', '-L', standIn.url, '--listen', `127.0.0.1:${p}`]);
    await t.waitFor(/listening on/);
    const socket = connect(p, '127.0.0.1');
    const closed = new Promise((resolve) => socket.on('close', resolve));
    const data = new Promise((resolve) => socket.once('data', resolve));
    socket.on('error', () => {});
    socket.write(lib.encode({ type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId: 'raw-1' }, 4));
    const connack = await data;
    assert.equal(connack[0] >> 4, 2, 'CONNACK through the tunnel');
    await standIn.stop();
    await closed;
    await t.waitFor(/edge closed/);
    await t.stop();
  });
});
