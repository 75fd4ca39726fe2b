// Runs a command with the process's streams and signals, and turns what it throws into the
// message and exit code a shell sees.
import { CommandError, ExitCode } from './exit-codes.ts';
import type { Command, Io } from './io.ts';

export function processIo(): Io {
  const controller = new AbortController();
  let signals = 0;
  const stop = () => {
    if (++signals > 1) process.exit(ExitCode.failure); // a second Ctrl-C does not wait
    controller.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    // On first use only (pub -l, -s, -f -): opening stdin loads stream code a tunnel never needs.
    get stdin() {
      return process.stdin;
    },
    env: process.env,
    signal: controller.signal,
  };
}

export async function runCommand(command: Command, argv: string[], io: Io): Promise<number> {
  try {
    return await command(argv, io);
  } catch (err) {
    if (err instanceof CommandError) {
      io.stderr.write(`Error: ${err.message}\n`);
      if (err.exitCode === ExitCode.usage) io.stderr.write('Use --help to see the options.\n');
      return err.exitCode;
    }
    io.stderr.write(`Error: ${(err as Error)?.stack ?? String(err)}\n`);
    return ExitCode.failure;
  }
}
