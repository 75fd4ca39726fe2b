// The spool's command-line options, shared by `tunnel --buffer` and `bridge`.
import { join } from 'node:path';
import { CommandError, ExitCode } from '../exit-codes.ts';
import { int, str, type OptionTable, type Values } from '../options.ts';
import type { FsyncPolicy, SpoolOptions } from './spool.ts';

export const spoolOptionTable = {
  spool: { type: 'string' },
  'spool-max-messages': { type: 'string' },
  'spool-max-bytes': { type: 'string' },
  'when-full': { type: 'string' },
  fsync: { type: 'string' },
} as const satisfies OptionTable;

/** --spool, else $DEVICE_AGENT_SPOOL, else systemd's $STATE_DIRECTORY, else /var/lib/device-agent. */
export function spoolOptions(v: Values, env: Record<string, string | undefined>, name: string): SpoolOptions {
  const base = str(v, 'spool') ?? env.DEVICE_AGENT_SPOOL ?? env.STATE_DIRECTORY ?? '/var/lib/device-agent';
  const whenFull = str(v, 'when-full') ?? 'drop-new';
  if (whenFull !== 'drop-new' && whenFull !== 'drop-old') throw new CommandError(ExitCode.usage, `--when-full must be drop-new or drop-old, not "${whenFull}"`);
  return {
    dir: join(base, name),
    maxMessages: int(v, 'spool-max-messages', 10_000, 1),
    maxBytes: int(v, 'spool-max-bytes', 16 * 1024 * 1024, 1024, 2 ** 40),
    whenFull,
    fsync: fsyncPolicy(str(v, 'fsync') ?? 'always'),
  };
}

function fsyncPolicy(s: string): FsyncPolicy {
  if (s === 'always' || s === 'never') return s;
  if (/^\d+$/.test(s) && Number(s) > 0) return Number(s);
  throw new CommandError(ExitCode.usage, `--fsync must be always, never or a number of milliseconds, not "${s}"`);
}
