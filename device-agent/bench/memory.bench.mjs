// npm run bench:memory: the agent's RSS in each mode (tunnel, tunnel --buffer, bridge), idle and
// under load, on Node 22 and the oldest supported Node (BENCH_NODES for others, see nodes.mjs): V8's
// defaults, the heap limits alone, and the contrib unit's flags (heap limits and --lite-mode;
// BENCH_V8_FLAGS). The broker on workerd is the edge.
//   idle   the agent started and connected (bridge: both sides), no local client, 3 s later
//   load   tunnel and --buffer: 50 MQTT.js clients through the agent, each subscribed, 5 rounds of
//          QoS 1 to one another (--buffer: spooled); bridge: 50 clients on the board's mosquitto
//          publish 5 QoS 1 messages each to the edge, and the edge 250 to the board
//   peak   VmHWM over the run
// Also counts the Node built-in modules the agent loads (process.moduleLoadList, by a preload).
// BENCH_UNIT_ONLY=1 runs the unit's flags alone; BENCH_MODES=tunnel,bridge picks the modes.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { bin, tempDir } from '../test/helpers/agent.mjs';
import { startEdge } from '../test/helpers/edge.mjs';
import { startMosquitto } from '../test/helpers/mosquitto.mjs';
import { freePort, sleep, start } from '../test/helpers/procs.mjs';
import { heapFlags, nodes, v8Flags } from './nodes.mjs';

const status = (pid) => {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)[1]) / 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
};
const connect = (url, id) => mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 10_000, clientId: `mem-${id}-${process.pid}` });

// Prints, 2 s after start, how many built-in modules the agent loaded beyond a bare Node's.
const probe = join(tempDir('mem-bench'), 'probe.cjs');
writeFileSync(probe, `const base = new Set(process.moduleLoadList);
setTimeout(() => process.stderr.write('modules loaded: ' + process.moduleLoadList.filter((m) => !base.has(m) && m.startsWith('NativeModule ')).length + '\\n'), 2000).unref();\n`);

async function bare(node, flags) {
  const p = start(node, [...flags, '-e', 'setInterval(() => {}, 1000)']);
  await sleep(1000);
  const r = status(p.child.pid).rss;
  await p.stop();
  return r;
}

/** 50 clients on `url`, each subscribed to its own topic, 5 rounds of QoS 1 to the next one. */
async function exchange(url, label) {
  const clients = [];
  for (let i = 0; i < 50; i++) clients.push(await connect(url, `${label}-${i}`));
  await Promise.all(clients.map((c, i) => c.subscribeAsync(`mem/${label}/${i}`, { qos: 1 })));
  let got = 0;
  for (const c of clients) c.on('message', () => got++);
  for (let round = 0; round < 5; round++) await Promise.all(clients.map((c, i) => c.publishAsync(`mem/${label}/${(i + 1) % 50}`, 'y'.repeat(100), { qos: 1 })));
  for (let i = 0; i < 100 && got < 250; i++) await sleep(100);
  return clients;
}

async function agentRun(node, flags, args, load) {
  const agent = start(node, [...flags, '-r', probe, bin, ...args]);
  await agent.waitFor(/modules loaded: \d+/, 15_000);
  await sleep(1000);
  const idle = status(agent.child.pid).rss;
  const clients = await load();
  await sleep(1000);
  const loaded = status(agent.child.pid);
  await Promise.all(clients.map((c) => c.endAsync()));
  await agent.stop();
  return { idle, loaded: loaded.rss, peak: loaded.peak, modules: Number(/modules loaded: (\d+)/.exec(agent.output)[1]) };
}

async function tunnel(node, flags, edgeUrl, buffer) {
  const port = await freePort();
  const args = ['tunnel', '-L', edgeUrl, '--listen', `127.0.0.1:${port}`, '--quiet',
    ...(buffer ? ['--buffer', '--spool', tempDir('mem-spool'), '-i', `mem-fwd-${process.pid}`] : [])];
  return agentRun(node, flags, args, () => exchange(`mqtt://127.0.0.1:${port}`, buffer ? 'b' : 't'));
}

async function bridge(node, flags, edgeUrl) {
  const board = await startMosquitto();
  const conf = join(tempDir('mem-bridge'), 'bridge.conf');
  writeFileSync(conf, `connection mem\naddress ${edgeUrl}\nremote_clientid mem-bridge-${process.pid}\nlocal_address 127.0.0.1:${board.port}\ntopic mem/up/# out 1\ntopic mem/down/# in 1\n`);
  try {
    return await agentRun(node, flags, ['bridge', '-c', conf, '--spool', tempDir('mem-spool'), '--quiet'], async () => {
      const edgeSide = await connect(edgeUrl, 'edge');
      await edgeSide.subscribeAsync('mem/up/#', { qos: 1 });
      const listener = await connect(board.url, 'board-sub');
      await listener.subscribeAsync('mem/down/#', { qos: 1 });
      let up = 0;
      let down = 0;
      edgeSide.on('message', () => up++);
      listener.on('message', () => down++);
      const clients = [];
      for (let i = 0; i < 50; i++) clients.push(await connect(board.url, `board-${i}`));
      for (let round = 0; round < 5; round++) await Promise.all(clients.map((c, i) => c.publishAsync(`mem/up/${i}`, 'y'.repeat(100), { qos: 1 })));
      for (let i = 0; i < 250; i++) await edgeSide.publishAsync(`mem/down/${i % 50}`, 'z'.repeat(100), { qos: 1 });
      for (let i = 0; i < 100 && (up < 250 || down < 250); i++) await sleep(100);
      if (up < 250 || down < 250) throw new Error(`bridge carried ${up}/250 up, ${down}/250 down`);
      return [...clients, edgeSide, listener];
    });
  } finally {
    await board.stop();
  }
}

const f = (n) => n.toFixed(1);
const edge = await startEdge();
try {
  console.log('\nAgent RSS (MB) by mode, idle and under load (see the top of bench/memory.bench.mjs)\n');
  console.log('| Node | V8 flags | mode | bare node | idle | under load | peak | built-in modules loaded |\n| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |');
  for (const [name, node] of Object.entries(nodes)) {
    for (const flags of process.env.BENCH_UNIT_ONLY ? [v8Flags] : [[], heapFlags, v8Flags]) {
      const floor = await bare(node, flags);
      const modes = {
        tunnel: () => tunnel(node, flags, `${edge.url}/mem-t`, false),
        'tunnel --buffer': () => tunnel(node, flags, `${edge.url}/mem-b`, true),
        bridge: () => bridge(node, flags, `${edge.url}/mem-br`),
      };
      const only = process.env.BENCH_MODES?.split(',');
      for (const [mode, run] of Object.entries(modes).filter(([m]) => !only || only.includes(m))) {
        const m = await run();
        console.log(`| ${name} | ${flags.join(' ') || '(defaults)'} | ${mode} | ${f(floor)} | ${f(m.idle)} | ${f(m.loaded)} | ${f(m.peak)} | ${m.modules} |`);
      }
    }
  }
} finally {
  await edge.stop();
}
