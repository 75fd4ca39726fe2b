// Power loss and restarts of the store-and-forward path, against the broker on workerd: QoS 2
// packet ids that agree with the edge's session across an agent restart, and a seeded kill -9
// loop over the tunnel and the bridge that counts sent, acknowledged and delivered messages.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startAgent, tempDir } from './helpers/agent.mjs';
import { namespaceUrl, startEdge } from './helpers/edge.mjs';
import { pub } from './helpers/mosquitto-clients.mjs';
import { startMosquitto } from './helpers/mosquitto.mjs';
import { observe } from './helpers/observer.mjs';
import { newLedger, prng, publishRound, tally } from './helpers/kill-loop.mjs';
import { freePort, sleep } from './helpers/procs.mjs';
import lib from '../dist/index.js';

let edge;

before(async () => {
  edge = await startEdge();
});

after(async () => {
  await edge?.stop();
});

/** Leaves a QoS 2 PUBLISH with `packetId` in PUBREC state in `clientId`'s persistent session at the edge. */
async function leaveHeldPubrec(url, clientId, packetId) {
  const link = await lib.openLink(lib.parseEndpoint(url), { timeoutMs: 10_000 });
  const connect = { type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: false, keepalive: 60, clientId };
  const { conn } = await lib.handshake(link, connect, 10_000);
  const pubrec = new Promise((resolve) => conn.attach((p) => p.type === 'pubrec' && resolve(p)));
  conn.send({ type: 'publish', topic: 'held/earlier', payload: new TextEncoder().encode('earlier'), qos: 2, retain: false, dup: false, packetId });
  assert.equal((await pubrec).packetId, packetId);
  conn.destroy('power loss');
}

describe('QoS 2 across an agent restart', () => {
  test('a restarted agent does not reuse a packet id the edge holds in PUBREC state: all six arrive once [MQTT-4.3.3]', async () => {
    const url = namespaceUrl(edge, 'q2restart');
    const id = `fwd-q2-${process.pid}`;
    const spool = tempDir('spool');
    const port = await freePort();
    await leaveHeldPubrec(url, id, 3);
    const dead = `ws://127.0.0.1:${await freePort()}/mqtt`;
    const args = (edgeUrl) => ['tunnel', '--buffer', '-L', edgeUrl, '--listen', `127.0.0.1:${port}`, '--spool', spool, '-i', id, '--reconnect-min', '1', '--reconnect-max', '2', '-d'];
    let agent = startAgent(args(dead));
    await agent.waitFor(/listening on/);
    for (let i = 1; i <= 6; i++) {
      const p = await pub(port, ['-t', 'q2/seq', '-m', `m${i}`, '-q', '2', '-i', 'sensor-q2']);
      assert.equal(p.code, 0, p.stderr + agent.output);
    }
    assert.equal(await agent.stop('SIGKILL'), 'SIGKILL');
    const watcher = await observe(url, { clientId: `watch-q2-${process.pid}`, clean: false });
    await watcher.subscribe('q2/#', 2);
    agent = startAgent(args(url));
    try {
      await watcher.count(6, 20_000).catch(() => {});
      await sleep(500);
      assert.deepEqual(watcher.items.map((m) => m.payload), ['m1', 'm2', 'm3', 'm4', 'm5', 'm6'], agent.output);
    } finally {
      await watcher.end();
      await agent.stop('SIGKILL');
    }
  });
});

const seed = Number(process.env.AGENT_KILL_SEED ?? 20261129);
const rounds = Number(process.env.AGENT_KILL_ROUNDS ?? 8);

describe(`kill -9 loop (seed ${seed}, ${rounds} kills)`, () => {
  for (const fsync of ['always', 'never']) {
    test(`tunnel --buffer, fsync ${fsync}: nothing acknowledged is lost, QoS 2 arrives once, order kept`, async (t) => {
      const rand = prng(seed + (fsync === 'always' ? 0 : 1));
      const url = namespaceUrl(edge, 'kill');
      const dead = `ws://127.0.0.1:${await freePort()}/mqtt`;
      const spool = tempDir('spool');
      const port = await freePort();
      const id = `fwd-kill-${process.pid}-${fsync}`;
      const args = (to) => ['tunnel', '--buffer', '-L', to, '--listen', `127.0.0.1:${port}`, '--spool', spool, '-i', id, '--fsync', fsync, '--reconnect-min', '1', '--reconnect-max', '1'];
      const watcher = await observe(url, { clientId: `watch-kill-${process.pid}-${fsync}`, clean: false });
      // QoS 1 to the watcher: MQTT.js hands over a QoS 2 message only at PUBREL, later than a QoS 1
      // one sent after it, which would hide the order the edge routed them in. Its connection never
      // drops, so QoS 1 adds no duplicates of its own.
      await watcher.subscribe('kill/#', 1);
      const ledger = newLedger();
      let agent;
      try {
        for (let round = 0; round < rounds; round++) {
          // A third of the rounds the edge is away: the spool fills, and the next round drains it while killed.
          agent = startAgent(args(rand() < 0.33 ? dead : url));
          await agent.waitFor(/listening on/);
          const killAt = Date.now() + 100 + Math.floor(rand() * 900);
          const killer = sleep(killAt - Date.now()).then(() => agent.stop('SIGKILL'));
          if (rand() < 0.8) await publishRound(port, 'kill/t', ledger, rand, killAt + 2_000);
          await killer;
        }
        agent = startAgent(args(url));
        const until = Date.now() + 30_000;
        while (Date.now() < until && tally(ledger, watcher.items).lost.length > 0) await sleep(200);
        await sleep(1_000);
        const r = tally(ledger, watcher.items);
        t.diagnostic(`sent ${r.sent}, acknowledged ${r.acked}, delivered ${r.delivered}, lost ${r.lost.length}, QoS 2 twice ${r.qos2Twice.length}, QoS 1 twice ${r.qos1Twice}`);
        assert.ok(r.acked > rounds * 5, `enough messages acknowledged (${r.acked})`);
        assert.deepEqual(r.lost, [], `acknowledged but never delivered; delivered: ${watcher.items.map((m) => m.payload).join(' ')}`);
        assert.deepEqual(r.qos2Twice, [], 'QoS 2 delivered twice');
        assert.deepEqual(r.outOfOrder, [], 'delivered out of order');
      } finally {
        await agent?.stop('SIGKILL');
        await watcher.end();
      }
    });
  }

  test('bridge: nothing the board acknowledged is lost, QoS 2 arrives once, order kept per QoS', async (t) => {
    const rand = prng(seed + 7);
    const url = namespaceUrl(edge, 'killbridge');
    const dead = `ws://127.0.0.1:${await freePort()}/mqtt`;
    const board = await startMosquitto();
    const dir = tempDir('bridge-spool');
    const file = join(dir, 'bridge.conf');
    const logs = [];
    const start = (to) => {
      writeFileSync(file, `connection k\naddress ${to}\nremote_clientid kill-bridge-${process.pid}\nrestart_timeout 1 1\ntopic kill/# out 2\n`);
      const a = startAgent(['bridge', '-c', file, '--local', `127.0.0.1:${board.port}`, '--spool', dir, '-d']);
      logs.push(a);
      return a;
    };
    const watcher = await observe(url, { clientId: `watch-killb-${process.pid}`, clean: false });
    await watcher.subscribe('kill/#', 1); // QoS 1: see the tunnel case
    const ledger = newLedger();
    let agent;
    try {
      for (let round = 0; round < rounds; round++) {
        agent = start(rand() < 0.33 ? dead : url);
        // the first run subscribes on the board's broker; later ones find the subscription in the session
        await agent.waitFor(round === 0 ? /subscribed on the local broker/ : /connected to the local broker/);
        const killAt = Date.now() + 100 + Math.floor(rand() * 900);
        const killer = sleep(killAt - Date.now()).then(() => agent.stop('SIGKILL'));
        if (rand() < 0.8) await publishRound(board.port, 'kill/b', ledger, rand, killAt);
        await killer;
      }
      agent = start(url);
      const until = Date.now() + 30_000;
      while (Date.now() < until && tally(ledger, watcher.items).lost.length > 0) await sleep(200);
      await sleep(1_000);
      const r = tally(ledger, watcher.items, { perQos: true });
      t.diagnostic(`sent ${r.sent}, acknowledged ${r.acked}, delivered ${r.delivered}, lost ${r.lost.length}, QoS 2 twice ${r.qos2Twice.length}, QoS 1 twice ${r.qos1Twice}`);
      assert.ok(r.acked > rounds * 5, `enough messages acknowledged (${r.acked})`);
      assert.deepEqual(r.lost, [], 'acknowledged but never delivered');
      assert.deepEqual(r.qos2Twice, [], 'QoS 2 delivered twice');
      assert.deepEqual(r.outOfOrder, [], 'delivered out of order (QoS 1 and QoS 2 each)');
    } finally {
      await agent?.stop('SIGKILL');
      await watcher.end();
      await board.stop();
      // AGENT_KILL_LOGS=<file>: every run's log, for a failure that a seed does not repeat
      if (process.env.AGENT_KILL_LOGS) writeFileSync(process.env.AGENT_KILL_LOGS, logs.map((a) => a.output).join('\n=====\n'));
    }
  });
});

describe('a message larger than the edge takes does not wedge the queue', () => {
  test('refused before the ack while the edge limit is known; set aside when spooled before; the 5 behind it arrive', async () => {
    const url = namespaceUrl(edge, 'big');
    const spool = tempDir('spool');
    const port = await freePort();
    const big = join(spool, 'big.bin');
    writeFileSync(big, Buffer.alloc(1_500_000, 7));
    const dead = `ws://127.0.0.1:${await freePort()}/mqtt`;
    const args = (to) => ['tunnel', '--buffer', '-L', to, '--listen', `127.0.0.1:${port}`, '--spool', spool, '-i', `fwd-big-${process.pid}`, '--reconnect-min', '1', '--reconnect-max', '1'];
    const watcher = await observe(url, { clientId: `watch-big-${process.pid}`, clean: false });
    await watcher.subscribe('big/#', 1);
    let agent = startAgent(args(dead)); // the edge away: its limit is not known, so the big one is spooled
    try {
      await agent.waitFor(/listening on/);
      assert.equal((await pub(port, ['-t', 'big/x', '-f', big, '-q', '1'])).code, 0);
      for (let i = 1; i <= 5; i++) assert.equal((await pub(port, ['-t', 'big/small', '-m', `a${i}`, '-q', '1'])).code, 0);
      await agent.stop('SIGKILL');
      agent = startAgent(args(url));
      await agent.waitFor(/set aside a 1\.4 MiB message on big\/x: the edge takes at most 1\.0 MiB; 1 set aside so far/, 20_000);
      await watcher.count(5, 20_000);
      // MQTT 3.1.1: an MQTT 5 mosquitto_pub reads the edge's Maximum Packet Size in CONNACK and never sends it
      const refused = await pub(port, ['-t', 'big/x', '-f', big, '-q', '1', '-d']);
      assert.notEqual(refused.code, 0, `the device is refused, not acknowledged: ${refused.stdout} ${refused.stderr}`);
      await agent.waitFor(/refused a 15\d+-byte message on big\/x/);
      for (let i = 6; i <= 10; i++) assert.equal((await pub(port, ['-t', 'big/small', '-m', `a${i}`, '-q', '1'])).code, 0);
      await watcher.count(10, 20_000);
      await sleep(300);
      assert.deepEqual(watcher.items.map((m) => m.payload), ['a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'a8', 'a9', 'a10']);
    } finally {
      await agent.stop('SIGKILL');
      await watcher.end();
    }
  });
});

describe('a spool that cannot store refuses, the agent stays up', () => {
  test('disk full: mosquitto_pub -q 1 is not acknowledged, the agent keeps running, and takes messages again once it can write', async () => {
    const url = namespaceUrl(edge, 'full');
    const spool = tempDir('spool');
    mkdirSync(join(spool, 'tunnel'));
    symlinkSync('/dev/full', join(spool, 'tunnel', '0000000000000001.seg')); // every write: ENOSPC
    const port = await freePort();
    const watcher = await observe(url);
    await watcher.subscribe('full/#', 1);
    const agent = startAgent(['tunnel', '--buffer', '-L', url, '--listen', `127.0.0.1:${port}`, '--spool', spool, '--fsync', 'never', '-i', `fwd-full-${process.pid}`]);
    try {
      await agent.waitFor(/listening on/);
      const refused = await pub(port, ['-t', 'full/x', '-m', 'not stored', '-q', '1']);
      assert.notEqual(refused.code, 0, 'not acknowledged');
      await agent.waitFor(/spool cannot store \(ENOSPC/);
      assert.equal((await pub(port, ['-t', 'full/x', '-m', 'still not', '-q', '1'])).code === 0, false, 'refused while broken');
      unlinkSync(join(spool, 'tunnel', '0000000000000001.seg'));
      await agent.waitFor(/spool writable again/, 10_000);
      assert.equal((await pub(port, ['-t', 'full/x', '-m', 'stored', '-q', '1'])).code, 0);
      await watcher.count(1);
      await sleep(300);
      assert.deepEqual(watcher.items.map((m) => m.payload), ['stored']);
      assert.equal(agent.child.exitCode, null, 'still running');
    } finally {
      await agent.stop('SIGKILL');
      await watcher.end();
    }
  });

  test('the spool directory deleted while running: the next message is refused, what was owed is written again, a second agent cannot take the directory', async () => {
    const url = namespaceUrl(edge, 'deleted');
    const spool = tempDir('spool');
    const port = await freePort();
    const dead = `ws://127.0.0.1:${await freePort()}/mqtt`;
    const args = (to, listen) => ['tunnel', '--buffer', '-L', to, '--listen', `127.0.0.1:${listen}`, '--spool', spool, '-i', `fwd-del-${process.pid}`, '--reconnect-min', '1', '--reconnect-max', '1'];
    let agent = startAgent(args(dead, port));
    try {
      await agent.waitFor(/listening on/);
      for (let i = 1; i <= 3; i++) assert.equal((await pub(port, ['-t', 'del/x', '-m', `d${i}`, '-q', '1'])).code, 0);
      rmSync(spool, { recursive: true });
      assert.notEqual((await pub(port, ['-t', 'del/x', '-m', 'into the void', '-q', '1'])).code, 0, 'not acknowledged into an unlinked file');
      await agent.waitFor(/spool writable again; 3 queued messages written to it again/, 10_000);
      const second = await startAgent(args(dead, await freePort())).exited;
      assert.equal(second, 1, 'a second agent on the same directory exits 1 (in use)');
      assert.equal((await pub(port, ['-t', 'del/x', '-m', 'd4', '-q', '1'])).code, 0);
      await agent.stop('SIGKILL');
      const watcher = await observe(url, { clientId: `watch-del-${process.pid}`, clean: false });
      await watcher.subscribe('del/#', 1);
      agent = startAgent(args(url, port));
      await watcher.count(4, 20_000);
      await sleep(300);
      assert.deepEqual(watcher.items.map((m) => m.payload), ['d1', 'd2', 'd3', 'd4']);
      await watcher.end();
    } finally {
      await agent.stop('SIGKILL');
    }
  });
});

describe('damage is survived and said', () => {
  test('one flipped byte in message 20 of 200 spooled: 199 arrive, the log names the damage and the one message lost', async () => {
    const url = namespaceUrl(edge, 'flip');
    const spool = tempDir('spool');
    const port = await freePort();
    const dead = `ws://127.0.0.1:${await freePort()}/mqtt`;
    const args = (to) => ['tunnel', '--buffer', '-L', to, '--listen', `127.0.0.1:${port}`, '--spool', spool, '-i', `fwd-flip-${process.pid}`, '--reconnect-min', '1', '--reconnect-max', '1'];
    let agent = startAgent(args(dead));
    await agent.waitFor(/listening on/);
    const lines = Array.from({ length: 200 }, (_, i) => `f${i + 1}`).join('\n');
    assert.equal((await pub(port, ['-t', 'flip/x', '-l', '-q', '1'], { input: `${lines}\n` })).code, 0);
    await agent.stop('SIGKILL');
    const seg = join(spool, 'tunnel', readdirSync(join(spool, 'tunnel')).filter((n) => n.endsWith('.seg')).sort()[0]);
    const bytes = readFileSync(seg);
    let at = 0;
    for (let i = 0; i < 19; i++) at += 8 + bytes.readUInt32BE(at);
    bytes[at + 8 + 20] ^= 0x10; // inside message 20
    writeFileSync(seg, bytes);
    const watcher = await observe(url, { clientId: `watch-flip-${process.pid}`, clean: false });
    await watcher.subscribe('flip/#', 1);
    agent = startAgent(args(url));
    try {
      await agent.waitFor(/spool \S+: 199 messages from the last run will be forwarded/);
      await agent.waitFor(/error tunnel: spool: \d+ damaged bytes in 1 place skipped \(checksum mismatch\)/);
      await agent.waitFor(/error tunnel: spool: 1 unacknowledged message lost to the damage/);
      assert.doesNotMatch(agent.output, /power lost/);
      await watcher.count(199, 20_000);
      await sleep(300);
      const got = watcher.items.map((m) => m.payload);
      assert.deepEqual(got, Array.from({ length: 200 }, (_, i) => `f${i + 1}`).filter((m) => m !== 'f20'));
    } finally {
      await agent.stop('SIGKILL');
      await watcher.end();
    }
  });

  test('a lock left with a pid that now names another process does not keep the agent down; a live agent\'s lock exits 1 (systemd restarts)', async () => {
    const spool = tempDir('spool');
    const port = await freePort();
    const dead = `ws://127.0.0.1:${await freePort()}/mqtt`;
    mkdirSync(join(spool, 'tunnel'));
    writeFileSync(join(spool, 'tunnel', 'lock'), `${process.pid} 1\n`); // this test's pid, but not its start time
    const args = (listen) => ['tunnel', '--buffer', '-L', dead, '--listen', `127.0.0.1:${listen}`, '--spool', spool];
    const agent = startAgent(args(port));
    try {
      await agent.waitFor(/listening on/);
      const second = startAgent(args(await freePort()));
      assert.equal(await second.exited, 1);
      assert.match(second.output, new RegExp(`spool \\S+ is in use by process ${agent.child.pid}`));
    } finally {
      await agent.stop('SIGKILL');
    }
  });
});
