// A real Debian mosquitto on a free 127.0.0.1 port: the board's broker, or (websockets: true) a
// stand-in edge. Optional password file for credential tests.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, start } from './procs.mjs';

export async function startMosquitto({ websockets = false, users, port, extra = [] } = {}) {
  port ??= await freePort();
  // mosquitto 2.0.11 refuses to start with only a websockets listener, so a TCP one comes along.
  const tcpPort = websockets ? await freePort() : port;
  const dir = mkdtempSync(join(tmpdir(), 'agent-mosquitto-'));
  const lines = [`listener ${port} 127.0.0.1`, ...(websockets ? ['protocol websockets', `listener ${tcpPort} 127.0.0.1`] : []),
    'log_dest stderr', 'log_type error', 'log_type warning'];
  if (users) {
    const file = join(dir, 'passwd');
    writeFileSync(file, '');
    for (const [u, p] of Object.entries(users)) execFileSync('mosquitto_passwd', ['-b', file, u, p]);
    // Run as root, mosquitto drops to its own user, which must still read the file.
    chmodSync(dir, 0o755);
    chmodSync(file, 0o644);
    lines.push(`password_file ${file}`, 'allow_anonymous false');
  } else lines.push('allow_anonymous true');
  lines.push(...extra);
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `${lines.join('\n')}\n`);
  const proc = start('mosquitto', ['-c', conf]);
  await waitListening(tcpPort, proc);
  return {
    port,
    tcpPort,
    url: websockets ? `ws://127.0.0.1:${port}/mqtt` : `mqtt://127.0.0.1:${port}`,
    proc,
    stop: () => proc.stop(),
  };
}

async function waitListening(port, proc) {
  const { connect } = await import('node:net');
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (proc.child.exitCode !== null) throw new Error(`mosquitto exited: ${proc.output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`mosquitto not listening on ${port}: ${proc.output}`);
}
