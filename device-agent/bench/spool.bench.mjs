// npm run bench:spool: the agent's RSS while a large spool drains with 50 local clients connected,
// on Node 22 and Node 16.17 (BENCH_NODES for others, see nodes.mjs) with the contrib unit's V8 flags.
// A `tunnel --buffer` agent takes BENCH_SPOOL messages (QoS 1, BENCH_SPOOL_PAYLOAD bytes, default 100)
// while the edge is away; it is then restarted toward the broker on workerd with 50 MQTT.js clients
// connected, and its RSS is sampled until the queue drains. AGENT_BIN measures another build.
import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { bin, tempDir } from '../test/helpers/agent.mjs';
import { startEdge } from '../test/helpers/edge.mjs';
import { freePort, sleep, start } from '../test/helpers/procs.mjs';
import { nodes, v8Flags } from './nodes.mjs';

const messages = Number(process.env.BENCH_SPOOL ?? 15_000);
const payloadBytes = Number(process.env.BENCH_SPOOL_PAYLOAD ?? 100);
/** CPU seconds the process has used (user + system, /proc/<pid>/stat, 100 ticks a second). */
const cpu = (pid) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ').slice(11, 13).reduce((n, t) => n + Number(t), 0) / 100;
const mb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const connect = (port, i) => mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, clientId: `spool-bench-${i}` });

async function bare(node) {
  const p = start(node, [...v8Flags, '-e', 'setInterval(() => {}, 1000)']);
  await sleep(500);
  const r = mb(p.child.pid);
  await p.stop();
  return r;
}

async function run(node, edgeUrl) {
  const spool = tempDir('spool-bench');
  const port = await freePort();
  const agent = (to) => start(node, [...v8Flags, bin, 'tunnel', '--buffer', '-L', to, '--listen', `127.0.0.1:${port}`, '--spool', spool,
    '--fsync', 'never', '--spool-max-messages', String(messages), '--spool-max-bytes', String(64 << 20), '-i', `spool-bench-${process.pid}`]);
  let a = agent(`ws://127.0.0.1:${await freePort()}/mqtt`);
  await a.waitFor(/listening on/);
  const filler = await connect(port, 'filler');
  const payload = 'x'.repeat(payloadBytes);
  for (let i = 0; i < messages; i += 100) await Promise.all(Array.from({ length: 100 }, () => filler.publishAsync('bench/spool', payload, { qos: 1 })));
  await filler.endAsync();
  await a.stop();
  a = agent(edgeUrl);
  await a.waitFor(/listening on/);
  const idle = mb(a.child.pid);
  const clients = [];
  for (let i = 0; i < 50; i++) clients.push(await connect(port, i));
  let peak = 0;
  const started = Date.now();
  const cpuBefore = cpu(a.child.pid);
  while (!/queue drained/.test(a.output) && Date.now() - started < 120_000) {
    peak = Math.max(peak, mb(a.child.pid));
    await sleep(100);
  }
  const drainedS = (Date.now() - started) / 1000;
  const cpuS = cpu(a.child.pid) - cpuBefore;
  await sleep(1000);
  const after = mb(a.child.pid);
  await Promise.all(clients.map((c) => c.endAsync()));
  await a.stop();
  return { idle, peak, after, drainedS, cpuS };
}

const edge = await startEdge();
try {
  console.log(`\nAgent RSS while ${messages} spooled QoS 1 messages of ${payloadBytes} bytes drain, 50 local clients connected (${v8Flags.join(' ')})\n`);
  console.log('| Node | bare node (MB) | agent, spool loaded (MB) | peak while draining (MB) | after draining (MB) | drained in (s) | agent CPU while draining (s) |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const [name, node] of Object.entries(nodes)) {
    const floor = await bare(node);
    const r = await run(node, `${edge.url}/bench-spool`);
    console.log(`| ${name} | ${floor.toFixed(1)} | ${r.idle.toFixed(1)} | ${r.peak.toFixed(1)} | ${r.after.toFixed(1)} | ${r.drainedS.toFixed(1)} | ${r.cpuS.toFixed(2)} |`);
  }
} finally {
  await edge.stop();
}
