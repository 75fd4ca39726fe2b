// The spool's command-line options, shared by `tunnel --buffer` and `bridge`.
import { join } from 'node:path';
import { CommandError, ExitCode } from '../exit-codes.ts';
import type { Logger } from '../log.ts';
import { count } from '../messages.ts';
import { int, str, type OptionTable, type Values } from '../options.ts';
import type { FsyncPolicy, Recovery, Spool, SpoolOptions } from './spool.ts';

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

/** --stall-timeout <seconds> (tunnel and bridge; default 20, 0 turns it off) in milliseconds. */
export function stallTimeout(v: Values): number {
  const s = str(v, 'stall-timeout');
  if (s === undefined) return 20_000;
  const n = Number(s);
  if (!/^\d+(\.\d+)?$/.test(s) || n > 3600 || (n > 0 && n < 0.5)) throw new CommandError(ExitCode.usage, `--stall-timeout must be 0 or 0.5 to 3600 seconds, not "${s}"`);
  return n * 1000;
}

/** Opens the spool (exit 3 if it cannot be used) and says what the last run left and what was damaged. */
export function openSpool(spool: Spool, log: Logger): Recovery {
  let r: Recovery;
  try {
    r = spool.open();
  } catch (err) {
    if (err instanceof CommandError) throw err;
    throw new CommandError(ExitCode.config, `cannot open spool ${spool.opts.dir}: ${(err as Error).message}`);
  }
  if (spool.loweredFrom) {
    log.warn(`spool: at most ${spool.opts.maxMessages} queued messages fit in this Node's memory bound (64 bytes each, of --max-old-space-size after 16 MB), `
      + `not ${spool.loweredFrom} (--spool-max-messages); raise --max-old-space-size for more`);
  }
  if (r.recovered) log.info(`spool ${spool.opts.dir}: ${count(r.recovered, 'message')} from the last run will be forwarded`);
  if (r.tornTailOnly) log.warn(`spool: cut ${r.damagedBytes} bytes of a record torn at the end (power lost during a write)`);
  else if (r.damagedPlaces) log.error(`spool: ${r.damagedBytes} damaged bytes in ${count(r.damagedPlaces, 'place')} skipped (checksum mismatch)`);
  if (r.missing) log.error(`spool: ${count(r.missing, 'unacknowledged message')} lost to the damage`);
  return r;
}
