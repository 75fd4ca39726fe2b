// One agent per spool directory: two writers would interleave records. The lock file holds the
// owner's pid and, where /proc tells it, the process's start time: a lock whose pid is gone, or
// now names a different process (pids are reused after a reboot), is stale and taken over.
// "In use" exits 1, not 3, so that systemd tries again: the other agent may be on its way out.
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommandError, ExitCode } from '../exit-codes.ts';

/** Directories this process holds; a lock file with our own pid may be a previous boot's. */
const held = new Set<string>();

export function lockDir(dir: string): void {
  const file = join(dir, 'lock');
  if (held.has(file)) throw inUse(dir, `${process.pid}`);
  for (let attempt = 0; attempt < 2; attempt++) {
    if (create(file)) return void held.add(file);
    const owner = readOwner(file);
    if (owner && owner.pid !== process.pid && running(owner)) throw inUse(dir, `${owner.pid}`);
    unlinkSync(file);
  }
  throw new CommandError(ExitCode.failure, `cannot lock spool ${dir}`);
}

/** After the directory was deleted or emptied: takes the lock again unless another process has it. */
export function relockDir(dir: string): void {
  const file = join(dir, 'lock');
  if (create(file)) return;
  const owner = readOwner(file);
  if (!owner || owner.pid !== process.pid || owner.start !== startTime(process.pid)) throw inUse(dir, `${owner?.pid ?? '?'}`);
}

export function unlockDir(dir: string): void {
  const file = join(dir, 'lock');
  if (!held.delete(file)) return;
  const owner = readOwner(file);
  if (owner && owner.pid !== process.pid) return; // another agent's since our directory was deleted
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}

function create(file: string): boolean {
  try {
    writeFileSync(file, `${process.pid} ${startTime(process.pid) ?? ''}\n`, { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return false;
  }
}

const inUse = (dir: string, pid: string) => new CommandError(ExitCode.failure, `spool ${dir} is in use by process ${pid}`);

function readOwner(file: string): { pid: number; start?: string } | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const [pid, start] = text.trim().split(/\s+/);
  return Number(pid) > 0 ? { pid: Number(pid), start: start || undefined } : undefined;
}

function running(owner: { pid: number; start?: string }): boolean {
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = startTime(owner.pid);
  return owner.start === undefined || now === undefined || now === owner.start;
}

/** Field 22 of /proc/<pid>/stat (clock ticks after boot), or undefined without /proc. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}
