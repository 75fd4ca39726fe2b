// bridge: a real mosquitto as the board's broker, the broker on workerd as the edge, the agent
// in between configured with mosquitto's bridge syntax. Topics in, out and both, prefixes,
// QoS, no loops on 3.1.1 (loop guard) and 5.0 (No Local), notifications, store-and-forward.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startAgent, tempDir } from './helpers/agent.mjs';
import { namespaceUrl, startEdge } from './helpers/edge.mjs';
import { pub, sub } from './helpers/mosquitto-clients.mjs';
import { startMosquitto } from './helpers/mosquitto.mjs';
import { observe } from './helpers/observer.mjs';
import { sleep } from './helpers/procs.mjs';

let edge;
let url;
let board;
let bridge;
const spool = tempDir('bridge-spool');
const id = `bridge-${process.pid}`;

function config() {
  return `# the board's mosquitto <-> the edge
connection v3
address ${url}
remote_clientid ${id}
bridge_protocol_version mqttv311
restart_timeout 1 2
keepalive_interval 30
topic sensors/# out 1 "" edge/
topic commands/# in 2 board/ cloud/
topic shared3/# both 2
topic # in 1 "" farm/b7/
topic # out 1 board7/ ""

connection v5
address ${url}
remote_clientid ${id}-5
bridge_protocol_version mqttv50
notifications false
restart_timeout 1 2
topic shared5/# both 2
`;
}

function startBridge() {
  const file = join(spool, 'bridge.conf');
  writeFileSync(file, config());
  return startAgent(['bridge', '-c', file, '--local', `127.0.0.1:${board.port}`, '--spool', spool, '-d']);
}

before(async () => {
  [edge, board] = await Promise.all([startEdge(), startMosquitto()]);
  url = namespaceUrl(edge, 'bridge');
  bridge = startBridge();
  await bridge.waitFor(/v3: connected to the edge/);
  await bridge.waitFor(/v5: connected to the edge/);
  await bridge.waitFor(/v3: connected to the local broker/);
});

after(async () => {
  const code = await bridge?.stop();
  await Promise.all([edge?.stop(), board?.stop()]);
  assert.equal(code, 0, 'bridge exits 0 on SIGTERM');
});

describe('bridge between mosquitto and the broker on workerd', () => {
  test('out: a local message reaches the edge under the remote prefix at its own QoS', async () => {
    const watcher = await observe(url);
    await watcher.subscribe('edge/sensors/#', 2);
    assert.equal((await pub(board.port, ['-t', 'sensors/temp', '-m', '23.0', '-q', '1'])).code, 0);
    assert.equal((await pub(board.port, ['-t', 'sensors/hum', '-m', '40', '-q', '0'])).code, 0);
    const got = await watcher.count(2);
    assert.deepEqual(got.map((m) => [m.topic, m.payload, m.qos]).sort(), [['edge/sensors/hum', '40', 0], ['edge/sensors/temp', '23.0', 1]]);
    await watcher.end();
  });

  test('in: an edge message reaches the board under the local prefix at QoS 2', async () => {
    const s = await sub(board.port, ['-t', 'board/commands/#', '-q', '2', '-C', '1', '-F', '%q %t %p']);
    const watcher = await observe(url);
    await watcher.publish('cloud/commands/reboot', 'now', { qos: 2 });
    assert.equal(await s.exit(), 0);
    assert.deepEqual(s.messages(), ['2 board/commands/reboot now']);
    await watcher.end();
  });

  test('a topic carried out is not carried in, and the reverse', async () => {
    const s = await sub(board.port, ['-t', 'cloud/#', '-t', 'edge/#', '-v']);
    const watcher = await observe(url);
    await watcher.subscribe('sensors/#');
    await watcher.subscribe('board/#');
    await pub(board.port, ['-t', 'sensors/x', '-m', 'out-only', '-q', '1']);
    await watcher.publish('cloud/commands/y', 'in-only', { qos: 1 });
    await sleep(1000);
    assert.deepEqual(s.messages(), []);
    assert.deepEqual(watcher.items, []);
    await s.proc.stop();
    await watcher.end();
  });

  for (const [label, topic] of [['MQTT 3.1.1 (loop guard)', 'shared3'], ['MQTT 5 (No Local)', 'shared5']]) {
    test(`both over ${label}: each side gets the other's message once and nothing loops`, async () => {
      const local = await sub(board.port, ['-t', `${topic}/#`, '-v', '-q', '2']);
      const watcher = await observe(url);
      await watcher.subscribe(`${topic}/#`, 2);
      await pub(board.port, ['-t', `${topic}/a`, '-m', 'from-board', '-q', '1']);
      await watcher.publish(`${topic}/b`, 'from-edge', { qos: 2 });
      await watcher.count(2);
      await sleep(1500); // a loop would keep adding copies on both sides
      assert.deepEqual(local.messages().sort(), [`${topic}/a from-board`, `${topic}/b from-edge`]);
      assert.deepEqual(watcher.items.map((m) => `${m.topic} ${m.payload} q${m.qos}`).sort(), [`${topic}/a from-board q1`, `${topic}/b from-edge q2`]);
      await local.proc.stop();
      await watcher.end();
    });
  }

  test('the retained flag crosses both ways (MQTT 5 edge link; Retain As Published on the board)', async () => {
    assert.equal((await pub(board.port, ['-t', 'shared5/ret-out', '-m', 'kept', '-q', '1', '-r'])).code, 0);
    const setter = await observe(url);
    await setter.publish('shared5/ret-in', 'kept-too', { qos: 1, retain: true });
    await setter.end();
    await sleep(1000);
    const late = await observe(url);
    await late.subscribe('shared5/ret-out', 1);
    const [m] = await late.count(1);
    assert.deepEqual([m.payload, m.retain], ['kept', true]);
    await late.end();
    const s = await sub(board.port, ['-t', 'shared5/ret-in', '-C', '1', '-F', '%r %p']);
    assert.equal(await s.exit(), 0);
    assert.deepEqual(s.messages(), ['1 kept-too']);
    for (const t of ['shared5/ret-out', 'shared5/ret-in']) await pub(board.port, ['-t', t, '-n', '-r', '-q', '1']);
  });

  test('a message whose topic maps to nothing valid is set aside and counted; the ones behind it flow, both ways', async () => {
    const s = await sub(board.port, ['-t', 'after-bad', '-C', '1', '-v']);
    const watcher = await observe(url);
    await watcher.subscribe('after-bad-out', 1);
    await watcher.publish('farm/b7', 'maps to ""', { qos: 1 }); // `topic # in 1 "" farm/b7/`: the empty topic
    await watcher.publish('farm/b7/after-bad', 'in', { qos: 1 });
    assert.equal((await pub(board.port, ['-t', 'board7', '-m', 'maps to ""', '-q', '1'])).code, 0);
    assert.equal((await pub(board.port, ['-t', 'board7/after-bad-out', '-m', 'out', '-q', '1'])).code, 0);
    assert.equal(await s.exit(), 0);
    assert.deepEqual(s.messages(), ['after-bad in']);
    const [m] = await watcher.count(1);
    assert.deepEqual([m.topic, m.payload], ['after-bad-out', 'out']);
    await bridge.waitFor(/v3: set aside a message on farm\/b7: .*1 set aside so far/);
    await bridge.waitFor(/v3: set aside a message on board7: .*2 set aside so far/);
    await watcher.end();
  });

  test('notifications: the bridge state is "1" on both sides, retained', async () => {
    const s = await sub(board.port, ['-t', `$SYS/broker/connection/${id}/state`, '-C', '1', '-F', '%r %p']);
    assert.equal(await s.exit(), 0);
    assert.deepEqual(s.messages(), ['1 1']);
    const watcher = await observe(url);
    await watcher.subscribe(`bridges/${id}/state`, 1);
    const [m] = await watcher.count(1);
    assert.deepEqual([m.payload, m.retain], ['1', true]);
    await watcher.end();
  });

  test('store and forward: QoS 1 messages from the board while the edge is down arrive once, in order, after a bridge kill', async () => {
    const watch = { clientId: `watch-${process.pid}`, clean: false };
    let watcher = await observe(url, watch);
    await watcher.subscribe('edge/sensors/sf', 1);
    await watcher.end();
    const { port, persistTo } = edge;
    await edge.stop();
    for (let i = 1; i <= 5; i++) assert.equal((await pub(board.port, ['-t', 'sensors/sf', '-m', `s${i}`, '-q', '1'])).code, 0);
    await bridge.waitFor(/queue depth/);
    await sleep(300); // the local broker has had its PUBACKs, so the messages are in the spool
    await bridge.stop('SIGKILL');
    bridge = startBridge();
    await bridge.waitFor(/v3: spool .* 5 messages from the last run/);
    await bridge.waitFor(/v3: connected to the local broker/);
    for (let i = 6; i <= 7; i++) assert.equal((await pub(board.port, ['-t', 'sensors/sf', '-m', `s${i}`, '-q', '1'])).code, 0);
    edge = await startEdge({ port, persistTo });
    watcher = await observe(url, watch);
    await bridge.waitFor(/v3 queue: queue drained/, 20_000);
    const got = await watcher.count(7, 20_000);
    await sleep(500);
    assert.deepEqual(got.map((m) => m.payload), ['s1', 's2', 's3', 's4', 's5', 's6', 's7']);
    assert.equal(watcher.items.length, 7, 'no duplicates');
    await watcher.end();
  });
  test('a board broker that refuses MQTT 5 is spoken to in 3.1.1: both ways, and the loop guard keeps messages from coming back', async () => {
    const oldBoard = await v311Only(board.port); // answers an MQTT 5 CONNECT as mosquitto 1.3 does
    const file = join(spool, 'old-board.conf');
    writeFileSync(file, `connection old\naddress ${url}\nremote_clientid ${id}-old\nnotifications false\nrestart_timeout 1 1\ntopic old/# both 1\n`);
    const b = startAgent(['bridge', '-c', file, '--local', `127.0.0.1:${oldBoard.port}`, '--spool', join(spool, 'old'), '-d']);
    try {
      await b.waitFor(/old board: the broker does not speak MQTT 5: using 3.1.1/);
      await b.waitFor(/old: subscribed on the local broker/);
      await b.waitFor(/old: connected to the edge/);
      const local = await sub(board.port, ['-t', 'old/#', '-v', '-q', '1']);
      const watcher = await observe(url);
      await watcher.subscribe('old/#', 1);
      await pub(board.port, ['-t', 'old/a', '-m', 'from-board', '-q', '1']);
      await watcher.publish('old/b', 'from-edge', { qos: 1 });
      await watcher.count(2);
      await sleep(1500);
      assert.deepEqual(local.messages().sort(), ['old/a from-board', 'old/b from-edge']);
      assert.deepEqual(watcher.items.map((m) => `${m.topic} ${m.payload}`).sort(), ['old/a from-board', 'old/b from-edge']);
      await local.proc.stop();
      await watcher.end();
    } finally {
      await b.stop();
      oldBoard.close();
    }
  });

  test('no loop however long the board is away: an edge message held 35 s (longer than the guard\'s 30 s) is not carried back', async () => {
    const watcher = await observe(url);
    await watcher.subscribe('shared3/#', 1);
    const { port } = board;
    await board.stop();
    await watcher.publish('shared3/held', 'while-away', { qos: 1 });
    await sleep(35_000);
    board = await startMosquitto({ port });
    const s = await sub(board.port, ['-t', 'shared3/held', '-C', '1', '-v']);
    assert.equal(await s.exit(30_000), 0);
    assert.deepEqual(s.messages(), ['shared3/held while-away']);
    await sleep(1500);
    assert.deepEqual(watcher.items.map((m) => m.payload), ['while-away'], 'the edge saw it once: its own copy, not one carried back');
    await watcher.end();
  });
});

/** A proxy to the board's mosquitto that refuses MQTT 5 (CONNACK return code 1), as mosquitto before 1.6 does. */
async function v311Only(port) {
  const server = createServer((client) => {
    client.on('error', () => {});
    client.once('data', (first) => {
      if (first[0] === 0x10 && first.indexOf(5, 2) === first.indexOf('MQTT') + 4) return void client.end(Buffer.from([0x20, 2, 0, 1]));
      const upstream = connect(port, '127.0.0.1', () => {
        upstream.write(first);
        client.pipe(upstream).pipe(client);
      });
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { port: server.address().port, close: () => server.close() };
}
