// What a command gets from its caller: streams, environment and a stop signal. cli.ts passes the
// process's; tests could pass their own.
import type { Readable, Writable } from 'node:stream';

export interface Io {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable;
  env: Record<string, string | undefined>;
  /** Aborted on SIGINT/SIGTERM: daemons shut down cleanly, sub stops. */
  signal: AbortSignal;
}

export type Command = (argv: string[], io: Io) => Promise<number>;
