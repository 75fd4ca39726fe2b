// A stalled uplink (TCP open, no bytes moving) while traffic flows: the tunnel (plain and the
// buffered forwarder) and the bridge notice it within --stall-timeout and reconnect.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { agentNode, bin, startAgent, tempDir } from './helpers/agent.mjs';
import { startEdge } from './helpers/edge.mjs';
import { startMosquitto } from './helpers/mosquitto.mjs';
import { freePort, sleep, start } from './helpers/procs.mjs';
import { startStallProxy } from './helpers/stall-proxy.mjs';

let edge;
let proxy;
const stallS = 2;

before(async () => {
  edge = await startEdge();
  proxy = await startStallProxy(edge.port);
});

after(async () => {
  await proxy?.stop();
  await edge?.stop();
});

const rssMb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

/** A device publishing at `qos` every `everyMs` until stopped; errors are expected once the link is cut. */
function chatter(port, qos, everyMs) {
  const device = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: `chatter-${process.pid}-${port}`, reconnectPeriod: 0 });
  device.on('error', () => {});
  let n = 0;
  const timer = setInterval(() => device.connected && device.publish('stall/t', `s${n++}`, { qos }, () => {}), everyMs);
  return { stop: () => (clearInterval(timer), device.end(true)) };
}

/** Freezes the proxy and measures how long until the agent logs `re`. */
async function timeToNotice(agent, re) {
  const frozenAt = Date.now();
  proxy.freeze();
  try {
    await agent.waitFor(re, 15_000);
    return (Date.now() - frozenAt) / 1000;
  } finally {
    proxy.thaw();
  }
}

describe(`a stalled uplink is noticed within --stall-timeout ${stallS} s, idle or while data flows`, () => {
  const url = () => `ws://127.0.0.1:${proxy.port}/mqtt/stall-${process.pid}`;

  test('tunnel: the device connection is closed', async () => {
    const port = await freePort();
    const agent = startAgent(['tunnel', '-L', url(), '--listen', `127.0.0.1:${port}`, '--stall-timeout', String(stallS)]);
    await agent.waitFor(/listening on/);
    const device = chatter(port, 0, 200);
    try {
      await agent.waitFor(/connected to the edge/);
      const s = await timeToNotice(agent, /edge stalled: nothing from the peer/);
      assert.ok(s <= stallS + 1.5, `noticed after ${s} s`);
    } finally {
      device.stop();
      await agent.stop('SIGKILL');
    }
  });

  test('tunnel --buffer: the forwarding client reconnects', async () => {
    const port = await freePort();
    const agent = startAgent(['tunnel', '--buffer', '-L', url(), '--listen', `127.0.0.1:${port}`, '--spool', tempDir('spool'), '-i', `stall-fwd-${process.pid}`,
      '--stall-timeout', String(stallS), '--reconnect-min', '1', '--reconnect-max', '1']);
    await agent.waitFor(/listening on/);
    const device = chatter(port, 1, 200);
    try {
      await agent.waitFor(/forwarding client .* connected to the edge/);
      const s = await timeToNotice(agent, /forwarding client lost the edge: stalled/);
      assert.ok(s <= stallS + 1.5, `noticed after ${s} s`);
      await agent.waitFor(/forwarding client .* connected to the edge[^]*forwarding client .* connected to the edge/, 10_000);
    } finally {
      device.stop();
      await agent.stop('SIGKILL');
    }
  });

  test('tunnel --buffer --edge-keepalive 3600, idle: the edge holds keepalive 3600 and a stall is noticed by WebSocket pings alone', async () => {
    const port = await freePort();
    const id = `idle-fwd-${process.pid}`;
    const agent = startAgent(['tunnel', '--buffer', '-L', url(), '--listen', `127.0.0.1:${port}`, '--spool', tempDir('spool'), '-i', id,
      '--edge-keepalive', '3600', '--stall-timeout', String(stallS), '--reconnect-min', '1', '--reconnect-max', '1']);
    await agent.waitFor(/listening on/);
    const device = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: `idle-dev-${process.pid}`, reconnectPeriod: 0, keepalive: 60 });
    device.on('error', () => {});
    try {
      await agent.waitFor(/forwarding client .* connected to the edge/);
      await agent.waitFor(/idle-dev-\d+.*connected to the edge/);
      const ns = `stall-${process.pid}`;
      for (const client of [id, `idle-dev-${process.pid}`]) {
        const res = await fetch(`http://127.0.0.1:${edge.port}/api/clients/${client}?ns=${ns}`);
        assert.equal((await res.json()).keepalive, 3600, client);
      }
      const s = await timeToNotice(agent, /forwarding client lost the edge: stalled[^]*idle-dev-\d+.*edge connection lost: stalled|idle-dev-\d+.*edge connection lost: stalled[^]*forwarding client lost the edge: stalled/);
      assert.ok(s <= stallS + 1.5, `noticed after ${s} s`);
      assert.ok(device.connected, 'the device stays connected to the agent meanwhile');
    } finally {
      device.end(true);
      await agent.stop('SIGKILL');
    }
  });

  test('tunnel --buffer, stall detection off: a 3 MB/s QoS 0 device does not grow the agent while the edge is stalled', async (t) => {
    const port = await freePort();
    // The unit's heap limits (as arguments: Node 16 refuses --max-semi-space-size in NODE_OPTIONS). With
    // V8's default young generation, garbage not yet collected under a loaded CPU grew RSS by 12-19 MB
    // in some runs, bound or not (seen on main too).
    const agent = start(agentNode, ['--max-old-space-size=32', '--max-semi-space-size=1', bin,
      'tunnel', '--buffer', '-L', url(), '--listen', `127.0.0.1:${port}`, '--spool', tempDir('spool'), '--stall-timeout', '0']);
    await agent.waitFor(/listening on/);
    const device = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: `flood-${process.pid}`, reconnectPeriod: 0, keepalive: 0 });
    device.on('error', () => {});
    await new Promise((r) => device.once('connect', r));
    await agent.waitFor(/flood-\d+.*connected to the edge/);
    const chunk = Buffer.alloc(30_000, 1);
    const timer = setInterval(() => device.publish('stall/flood', chunk, { qos: 0 }), 10); // 3 MB/s, more than the kernel buffers hold
    try {
      await sleep(1000);
      proxy.freeze();
      await sleep(1000);
      // bounded means growth far below what is offered: 48 MB over 16 s while nothing moves. What it
      // grows (buffers, and the collector's slack under a loaded CPU, which may come late: seen 9-13 MB
      // at 24 MB offered and again at 48 MB) does not follow the amount offered
      const before = rssMb(agent.child.pid);
      await sleep(16_000);
      const grown = rssMb(agent.child.pid) - before;
      t.diagnostic(`RSS grew ${grown.toFixed(1)} MB while 48 MB were offered`);
      assert.ok(grown < 20, `RSS grew ${grown.toFixed(1)} MB while 48 MB of QoS 0 were offered to a stalled edge`);
    } finally {
      clearInterval(timer);
      proxy.thaw();
      device.end(true);
      await agent.stop('SIGKILL');
    }
  });

  test('bridge (keepalive 60 s): the edge connection is reopened', async () => {
    const board = await startMosquitto();
    const dir = tempDir('bridge-spool');
    const file = join(dir, 'bridge.conf');
    writeFileSync(file, `connection s\naddress ${url()}\nremote_clientid stall-bridge-${process.pid}\nkeepalive_interval 60\nrestart_timeout 1 1\ntopic stall/# out 0\n`);
    const agent = startAgent(['bridge', '-c', file, '--local', `127.0.0.1:${board.port}`, '--spool', dir, '--stall-timeout', String(stallS)]);
    const device = chatter(board.port, 0, 200);
    try {
      await agent.waitFor(/s: connected to the edge/);
      const s = await timeToNotice(agent, /s: edge connection lost: stalled/);
      assert.ok(s <= stallS + 1.5, `noticed after ${s} s`);
      await sleep(100);
    } finally {
      device.stop();
      await agent.stop('SIGKILL');
      await board.stop();
    }
  });
});
