// The agent's memory does not grow with what its spool holds: queued payloads stay on disk, and the
// contrib unit's 32 MB heap (--max-old-space-size=32) holds more than 100,000 queued messages. The
// edge is away (nothing listens on its port) while a plain MQTT 3.1.1 client publishes QoS 1 through
// `tunnel --buffer`; the agent reports its memory and queue on SIGUSR2.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { afterEach, describe, test } from 'node:test';
import { agentNode, bin, tempDir } from './helpers/agent.mjs';
import { freePort, sleep, start } from './helpers/procs.mjs';
import lib from '../dist/index.js';

const { encode } = lib;
const unitFlags = ['--max-old-space-size=32', '--max-semi-space-size=1'];
const running = new Set();

async function bufferedAgent(spool, port) {
  const deadEdge = `ws://127.0.0.1:${await freePort()}/mqtt`;
  const a = start(agentNode, [...unitFlags, bin, 'tunnel', '--buffer', '-L', deadEdge, '--listen', `127.0.0.1:${port}`, '--spool', spool,
    '--fsync', 'never', '--spool-max-messages', '200000', '--spool-max-bytes', String(256 << 20), '-i', `mem-${process.pid}`, '--reconnect-min', '30']);
  running.add(a);
  await a.waitFor(/listening on/);
  await a.waitFor(/queue: reconnecting in/); // the edge is away, and SIGUSR2 has its handler by now
  return a;
}

/** Publishes `n` QoS 1 messages of `size` bytes, `batch` at a time, each batch once all of the one before is acknowledged. */
async function publish(port, n, size, batch = 1000) {
  const socket = connect(port, '127.0.0.1');
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let received = 0;
  let wake = () => {};
  socket.on('data', (d) => {
    received += d.length;
    wake();
  });
  const until = async (bytes) => {
    const deadline = Date.now() + 60_000;
    while (received < bytes) {
      if (Date.now() > deadline) throw new Error(`${received} of ${bytes} bytes of acknowledgements in 60 s`);
      await new Promise((r) => ((wake = r), setTimeout(r, 200)));
    }
  };
  socket.write(encode({ type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0, clientId: `mem-dev-${process.pid}` }, 4));
  await until(4); // CONNACK
  const payload = new Uint8Array(size).fill(0x61);
  for (let sent = 0; sent < n; ) {
    const packets = [];
    for (let k = 0; k < batch && sent < n; k++, sent++) {
      packets.push(encode({ type: 'publish', topic: 'sensors/board-7/temp', payload, qos: 1, retain: false, dup: false, packetId: (sent % 65535) + 1 }, 4));
    }
    socket.write(Buffer.concat(packets));
    await until(4 + sent * 4); // one 4-byte PUBACK each
  }
  socket.end();
}

/** The agent's status line (SIGUSR2): rss, heap used and array buffers in MB, queue depth and drops. */
async function status(agent) {
  const re = /memory: rss ([\d.]+) MB, heap ([\d.]+) MB of [\d.]+ MB, buffers ([\d.]+) MB; queue (\d+) messages?, (\d+) dropped/g;
  const seen = [...agent.output.matchAll(re)].length;
  agent.child.kill('SIGUSR2');
  for (let i = 0; i < 100 && [...agent.output.matchAll(re)].length === seen; i++) await sleep(50);
  const m = [...agent.output.matchAll(re)].at(-1);
  assert.ok(m && [...agent.output.matchAll(re)].length > seen, `no status line (exit ${agent.child.exitCode} ${agent.child.signalCode}):\n${agent.output.slice(-2000)}`);
  return { rss: Number(m[1]), heap: Number(m[2]), buffers: Number(m[3]), depth: Number(m[4]), dropped: Number(m[5]) };
}

describe('memory of a spooling agent (--max-old-space-size=32)', () => {
  afterEach(async () => {
    for (const a of running) await a.stop('SIGKILL');
    running.clear();
  });

  test('24 MB of queued 4 KB payloads grow the agent\'s heap and buffers by under 4 MB and its RSS by under 12 MB', async () => {
    const port = await freePort();
    const agent = await bufferedAgent(tempDir('mem-spool'), port);
    await publish(port, 500, 4096, 100); // warmed up: the code paths compiled, the buffers sized
    const before = await status(agent);
    await publish(port, 6000, 4096, 100);
    const after = await status(agent);
    assert.deepEqual([after.depth, after.dropped], [6500, 0]);
    const grew = { heapAndBuffers: after.heap + after.buffers - before.heap - before.buffers, rss: after.rss - before.rss };
    assert.ok(grew.heapAndBuffers < 4, `heap and buffers grew ${grew.heapAndBuffers.toFixed(1)} MB for 24 MB queued`);
    assert.ok(grew.rss < 12, `RSS grew ${grew.rss.toFixed(1)} MB for 24 MB queued`);
  });

  test('120,000 queued messages fit in a 32 MB heap, none dropped, and a restart under the same limit replays them all', async () => {
    const port = await freePort();
    const spool = tempDir('mem-spool');
    let agent = await bufferedAgent(spool, port);
    await publish(port, 120_000, 20, 2000);
    const full = await status(agent);
    assert.deepEqual([full.depth, full.dropped], [120_000, 0]);
    assert.ok(full.heap < 24, `heap used ${full.heap} MB with 120,000 queued (the flood's garbage included)`);
    await agent.stop();
    running.delete(agent);
    agent = await bufferedAgent(spool, port);
    await agent.waitFor(/120000 messages from the last run will be forwarded/);
    const replayed = await status(agent);
    assert.deepEqual([replayed.depth, replayed.dropped], [120_000, 0]);
    assert.ok(replayed.heap < 10, `heap used ${replayed.heap} MB with 120,000 replayed`);
  });
});
