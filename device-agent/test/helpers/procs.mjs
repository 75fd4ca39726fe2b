// Child processes for tests: free ports, commands with a deadline, long-running processes that
// are stopped by their own pid (or process group), never by name.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Runs a command to completion (bounded by timeoutMs); resolves { code, signal, stdout, stderr }. */
export function run(cmd, args, { input, timeoutMs = 20_000, env, cwd } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

/**
 * A long-running process with its output collected. waitFor(regex) waits (bounded) for a line;
 * stop() sends a signal to this pid (or its group) and resolves with the exit code.
 */
export function start(cmd, args, { env, cwd, group = false } = {}) {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, cwd, detached: group, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { text: '' };
  const listeners = new Set();
  const onData = (d) => {
    out.text += d;
    for (const l of listeners) l();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  // 'close', not 'exit': by then everything the process wrote has been read.
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve(code ?? signal)));
  const kill = (sig) => {
    try {
      if (group) process.kill(-child.pid, sig);
      else child.kill(sig);
    } catch {
      // already gone
    }
  };
  const handle = {
    child,
    get output() {
      return out.text;
    },
    exited,
    waitFor(re, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = re.exec(out.text);
          if (m) return done(() => resolve(m));
          if (child.exitCode !== null || child.signalCode !== null) return done(() => reject(new Error(`${cmd} exited before ${re}:\n${out.text}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`timed out waiting for ${re} from ${cmd}:\n${out.text}`))), timeoutMs);
        const done = (f) => {
          clearTimeout(timer);
          listeners.delete(check);
          child.off('exit', check);
          f();
        };
        listeners.add(check);
        child.on('exit', check);
        check();
      });
    },
    async stop(sig = 'SIGTERM', graceMs = 5_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      kill(sig);
      const timer = setTimeout(() => kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  return handle;
}
