// mosquitto_pub / mosquitto_sub as the devices. sub() resolves once SUBACK is in (from -d output),
// so a publish that follows cannot be missed; messages() strips the debug lines.
import { run, start } from './procs.mjs';

export const pub = (port, args, opts) => run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), ...args], opts);

export async function sub(port, args) {
  // stdbuf: mosquitto_sub's stdout is block-buffered on a pipe, and SUBACK must be seen at once.
  const p = start('stdbuf', ['-oL', 'mosquitto_sub', '-h', '127.0.0.1', '-p', String(port), '-d', ...args]);
  await p.waitFor(/received SUBACK/);
  return {
    proc: p,
    /** Output lines that are messages, not debug. */
    messages: () => p.output.split('\n').filter((l) => l && !/^Client |^Subscribed|^\s*\(|Warning|Error/.test(l)),
    /** Waits for the process to exit by itself (after -C) and returns its exit code. */
    exit: async (timeoutMs = 15_000) => {
      const timer = setTimeout(() => p.stop('SIGKILL'), timeoutMs);
      const code = await p.exited;
      clearTimeout(timer);
      return code;
    },
  };
}
