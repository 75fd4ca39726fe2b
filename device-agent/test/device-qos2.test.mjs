// A device's own QoS 2 packet ids across kill -9 of a `tunnel --buffer` agent [MQTT-4.3.3]. MQTT.js
// with a persistent session (clean=false) publishes QoS 2 through a proxy that reads each MQTT
// packet; at seeded packets the agent is SIGKILLed: just before it gets a PUBLISH, after it stored
// one but before the device hears the PUBREC (the proxy holds it back), or after the device heard
// PUBREC but before the agent gets the PUBREL. The agent is started again on the same spool, the
// device reconnects and sends the PUBLISH again (MQTT.js: with DUP 0) or the PUBREL. A watcher on
// the broker on workerd counts: every message exactly once.
import assert from 'node:assert/strict';
import { createServer, connect as tcpConnect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { startAgent, tempDir } from './helpers/agent.mjs';
import { namespaceUrl, startEdge } from './helpers/edge.mjs';
import { prng } from './helpers/kill-loop.mjs';
import { observe } from './helpers/observer.mjs';
import { freePort, sleep } from './helpers/procs.mjs';
import lib from '../dist/index.js';

const seed = Number(process.env.AGENT_KILL_SEED ?? 20261130);
const rounds = Number(process.env.AGENT_KILL_ROUNDS ?? 9);
const perRound = 5;
const points = ['before PUBLISH', 'PUBREC held back', 'after PUBREC'];

let edge;

before(async () => {
  edge = await startEdge();
});

after(async () => {
  await edge?.stop();
});

/** Splits a byte stream into MQTT packets: fixed header byte, Remaining Length varint [MQTT-2.2.3]. */
function packetReader(onPacket) {
  let buf = Buffer.alloc(0);
  return (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      let length = 0;
      let i = 1;
      for (let shift = 0; i < buf.length && i <= 4; i++, shift += 7) {
        length += (buf[i] & 0x7f) << shift;
        if (!(buf[i] & 0x80)) break;
      }
      if (i >= buf.length || buf.length < i + 1 + length) return;
      const packet = buf.subarray(0, i + 1 + length);
      buf = buf.subarray(i + 1 + length);
      onPacket(packet);
    }
  };
}

/**
 * A TCP proxy device → agent that hands every packet to `decide(direction, type)`: 'pass' forwards it,
 * 'drop' does not. Returns the port and a close function.
 */
async function mqttProxy(agentPort, decide) {
  const pairs = new Set();
  const server = createServer((device) => {
    const agent = tcpConnect(agentPort, '127.0.0.1');
    const pair = { device, agent };
    pairs.add(pair);
    const end = () => (device.destroy(), agent.destroy(), pairs.delete(pair));
    for (const [from, to, dir] of [[device, agent, 'up'], [agent, device, 'down']]) {
      from.on('data', packetReader((p) => {
        if (decide(dir, p[0] >> 4) === 'pass' && !to.destroyed) to.write(p);
      }));
      from.on('error', end);
      from.on('close', end);
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    close: () => {
      for (const p of pairs) p.device.destroy(), p.agent.destroy();
      return new Promise((r) => server.close(r));
    },
  };
}

describe(`a device's QoS 2 ids across kill -9 of the agent (seed ${seed}, ${rounds} kills)`, () => {
  for (const version of [4, 5]) {
    test(`MQTT ${version === 4 ? '3.1.1' : '5'}, clean=false: every message exactly once at the edge, every publish completed`, async (t) => {
      const url = namespaceUrl(edge, `devq2v${version}`);
      const spool = tempDir('spool');
      const port = await freePort();
      const rand = prng(seed + version);
      const args = ['tunnel', '--buffer', '-L', url, '--listen', `127.0.0.1:${port}`, '--spool', spool, '-i', `fwd-devq2-${process.pid}-${version}`,
        '--reconnect-min', '1', '--reconnect-max', '1', '-d'];
      let agent = startAgent(args);
      await agent.waitFor(/listening on/);
      const watcher = await observe(url, { clientId: `watch-devq2-${process.pid}-${version}`, clean: false });
      await watcher.subscribe('devq2/#', 2);

      // The kill plan: which PUBLISH (up) or PUBREC (down) of the round, and at which point.
      let plan;
      let seen = { up: 0, down: 0 };
      const kill = () => {
        plan = undefined;
        agent.child.kill('SIGKILL'); // synchronous: the agent gets nothing after this packet
      };
      const proxy = await mqttProxy(port, (dir, type) => {
        if (!plan) return 'pass';
        if (dir === 'up' && type === 3 && ++seen.up === plan.at && plan.point === 'before PUBLISH') return kill(), 'drop';
        if (dir === 'down' && type === 5 && ++seen.down === plan.at) {
          if (plan.point === 'PUBREC held back') return kill(), 'drop';
          if (plan.point === 'after PUBREC') return setImmediate(kill), 'pass'; // the device has it; its PUBREL finds the agent dead
        }
        return 'pass';
      });
      const device = mqtt.connect(`mqtt://127.0.0.1:${proxy.port}`, {
        clientId: `dev-q2-${process.pid}-${version}`, clean: false, protocolVersion: version, reconnectPeriod: 300, connectTimeout: 5_000,
        ...(version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
      });
      device.on('error', () => {});
      const completed = new Set();
      const points_hit = [];
      try {
        await new Promise((r) => device.once('connect', r));
        let n = 0;
        for (let round = 0; round < rounds; round++) {
          seen = { up: 0, down: 0 };
          const point = points[round % points.length];
          plan = { point, at: 1 + Math.floor(rand() * perRound) };
          const sends = [];
          for (let i = 0; i < perRound; i++) {
            const id = ++n;
            sends.push(device.publishAsync('devq2/t', `q${id}`, { qos: 2 }).then(() => completed.add(id)));
            await sleep(Math.floor(rand() * 20));
          }
          // The agent dies at the planned packet; start it again on the same spool and port.
          const deadline = Date.now() + 10_000;
          while (plan && Date.now() < deadline) await sleep(20);
          assert.equal(plan, undefined, `round ${round}: the planned ${point} #${seen.up}/${seen.down} came`);
          points_hit.push(point);
          await agent.exited;
          agent = startAgent(args);
          await agent.waitFor(/listening on/);
          await Promise.race([Promise.all(sends), sleep(30_000).then(() => { throw new Error(`round ${round}: only ${completed.size} of ${n} completed\n${agent.output}`); })]);
        }
        await watcher.count(n, 30_000).catch(() => {});
        await sleep(1_000); // a duplicate would come now
        const counts = new Map();
        for (const m of watcher.items) counts.set(m.payload, (counts.get(m.payload) ?? 0) + 1);
        const twice = [...counts].filter(([, c]) => c > 1).map(([p]) => p);
        const missing = [...Array(n).keys()].map((i) => `q${i + 1}`).filter((p) => !counts.has(p));
        t.diagnostic(`sent ${n}, completed (PUBCOMP) ${completed.size}, delivered ${counts.size}, twice ${twice.length}, missing ${missing.length}; kills: ${points_hit.join(', ')}`);
        assert.deepEqual({ completed: completed.size, delivered: counts.size, twice, missing }, { completed: n, delivered: n, twice: [], missing: [] });
      } finally {
        device.end(true);
        await proxy.close();
        await watcher.end();
        await agent.stop('SIGKILL');
      }
    });
  }
});

describe('a device\'s held QoS 2 ids end with its session', () => {
  test('after PUBCOMP, or after a clean connect, the same packet id carries a new message (not swallowed), across restarts', async () => {
    const url = namespaceUrl(edge, 'devq2clean');
    const spool = tempDir('spool');
    const port = await freePort();
    const args = ['tunnel', '--buffer', '-L', url, '--listen', `127.0.0.1:${port}`, '--spool', spool, '-i', `fwd-devq2c-${process.pid}`, '-d'];
    const watcher = await observe(url, { clientId: `watch-devq2c-${process.pid}` });
    await watcher.subscribe('devq2c/#', 2);
    const clientId = `dev-q2c-${process.pid}`;
    /** A raw device: CONNECT, then QoS 2 PUBLISH with packet id 42 and waits for `until` (PUBREC or PUBCOMP). */
    const device = async (clean) => {
      const link = await lib.openLink(lib.parseEndpoint(`mqtt://127.0.0.1:${port}`), { timeoutMs: 5_000 });
      const { conn, connack } = await lib.handshake(link, { type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean, keepalive: 60, clientId }, 5_000);
      const got = [];
      let wake = () => {};
      conn.attach((p) => (got.push(p), wake()));
      const next = async (type) => {
        const until = Date.now() + 10_000;
        while (!got.some((p) => p.type === type) && Date.now() < until) await new Promise((r) => ((wake = r), setTimeout(r, 100)));
        const i = got.findIndex((p) => p.type === type);
        assert.ok(i >= 0, `no ${type}`);
        return got.splice(i, 1)[0];
      };
      const publish = (payload, dup = false) => conn.send({ type: 'publish', topic: 'devq2c/t', payload: new TextEncoder().encode(payload), qos: 2, retain: false, dup, packetId: 42 });
      return { conn, connack, next, publish, pubrel: () => conn.send({ type: 'pubrel', packetId: 42 }) };
    };
    let agent = startAgent(args);
    const restart = async () => {
      assert.equal(await agent.stop('SIGKILL'), 'SIGKILL');
      agent = startAgent(args);
      await agent.waitFor(/listening on/);
    };
    try {
      await agent.waitFor(/listening on/);
      let d = await device(false);
      d.publish('a');
      assert.equal((await d.next('pubrec')).packetId, 42);
      await restart();
      d = await device(false);
      assert.equal(d.connack.sessionPresent, true);
      d.publish('a again', true); // the resend: PUBREC, not stored
      await d.next('pubrec');
      d.pubrel();
      await d.next('pubcomp');
      await restart();
      d = await device(false);
      d.publish('b'); // id 42 is free: a new message
      await d.next('pubrec');
      await restart();
      d = await device(true); // a clean session: 42 held by the old one is forgotten
      d.publish('c');
      await d.next('pubrec');
      d.pubrel();
      await d.next('pubcomp');
      await watcher.count(3, 20_000).catch(() => {});
      await sleep(1_000);
      assert.deepEqual(watcher.items.map((m) => m.payload).sort(), ['a', 'b', 'c'], agent.output);
      d.conn.destroy('done');
    } finally {
      await watcher.end();
      await agent.stop('SIGKILL');
    }
  });
});
