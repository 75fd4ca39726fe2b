// tunnel --buffer: store-and-forward with real mosquitto_pub/_sub, the broker on workerd stopped
// and restarted on the same port and state, and the agent killed (SIGKILL) in between.
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { startAgent, tempDir } from './helpers/agent.mjs';
import { namespaceUrl, startEdge } from './helpers/edge.mjs';
import { pub, sub } from './helpers/mosquitto-clients.mjs';
import { observe } from './helpers/observer.mjs';
import { freePort, sleep } from './helpers/procs.mjs';

let edge;
let url;
let port;
let spool;
const running = new Set();

const bufferedAgent = () => {
  const a = startAgent(['tunnel', '--buffer', '-L', url, '--listen', `127.0.0.1:${port}`, '--spool', spool, '-i', `fwd-${process.pid}`,
    '--reconnect-min', '1', '--reconnect-max', '2', '-d']);
  running.add(a);
  return a;
};

/** Stops the edge and starts it again later on the same port and persisted state. */
async function edgeDown() {
  const { port: edgePort, persistTo } = edge;
  await edge.stop();
  return async () => {
    edge = await startEdge({ port: edgePort, persistTo });
  };
}

before(async () => {
  edge = await startEdge();
  url = namespaceUrl(edge, 'buffer');
  port = await freePort();
});

after(async () => {
  await edge?.stop();
});

describe('tunnel --buffer', () => {
  beforeEach(() => {
    spool = tempDir('spool');
  });
  afterEach(async () => {
    for (const a of running) await a.stop('SIGKILL');
    running.clear();
  });

  test('QoS 1 messages sent while the edge is down survive an agent kill and arrive once, in order', async () => {
    let agent = bufferedAgent();
    await agent.waitFor(/listening on/);
    const watch = { clientId: `watch-${process.pid}`, clean: false };
    let watcher = await observe(url, watch);
    await watcher.subscribe('sf/#', 1);
    const send = async (from, to) => {
      for (let i = from; i <= to; i++) {
        const p = await pub(port, ['-t', 'sf/seq', '-m', `m${i}`, '-q', '1', '-i', 'sensor-1']);
        assert.equal(p.code, 0, p.stderr + agent.output);
      }
    };
    await send(1, 3);
    await watcher.count(3);
    await watcher.client.endAsync(); // politely, so its PUBACKs reach the edge first

    const edgeUp = await edgeDown();
    await send(4, 8);
    const lines = await pub(port, ['-t', 'sf/seq', '-l', '-q', '1', '-i', 'sensor-2'], { input: 'm9\nm10\nm11\n' });
    assert.equal(lines.code, 0, lines.stderr);
    await agent.waitFor(/queue depth \d+/);
    assert.equal(await agent.stop('SIGKILL'), 'SIGKILL');

    agent = bufferedAgent();
    await agent.waitFor(/spool \S+: 8 messages from the last run will be forwarded/);
    await agent.waitFor(/listening on/);
    await send(12, 14);
    await edgeUp();
    watcher = await observe(url, watch);
    await agent.waitFor(/queue drained/, 20_000);
    const got = await watcher.count(11, 20_000);
    await sleep(500);
    assert.deepEqual(got.map((m) => m.payload), ['m4', 'm5', 'm6', 'm7', 'm8', 'm9', 'm10', 'm11', 'm12', 'm13', 'm14']);
    assert.equal(watcher.items.length, 11, 'no duplicates');
    await watcher.client.endAsync();
    assert.equal(await agent.stop(), 0);
  });

  test('a device that connects while the edge is away is accepted locally and gets its subscription once the edge is back', async () => {
    const agent = bufferedAgent();
    await agent.waitFor(/listening on/);
    const edgeUp = await edgeDown();
    const s = await sub(port, ['-t', 'late/#', '-q', '1', '-v', '-C', '1', '-i', 'late-sub']);
    const p = await pub(port, ['-t', 'late/qos0', '-m', 'lost', '-q', '0']);
    assert.equal(p.code, 0, 'QoS 0 while the edge is away is accepted (and dropped)');
    await edgeUp();
    await agent.waitFor(/late-sub.*edge back/, 20_000);
    const watcher = await observe(url);
    await watcher.publish('late/news', 'hello', { qos: 1 });
    assert.equal(await s.exit(), 0);
    assert.deepEqual(s.messages(), ['late/news hello']);
    await watcher.end();
    assert.equal(await agent.stop(), 0);
  });
});
