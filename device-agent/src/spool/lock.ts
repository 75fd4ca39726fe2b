// One agent per spool directory: two writers would interleave records. A lock file holds the
// owner's pid; a lock left by a process that is gone (a crash, a power cut) is taken over.
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommandError, ExitCode } from '../exit-codes.ts';

/** Directories this process holds; a lock file with our own pid may be a previous boot's. */
const held = new Set<string>();

export function lockDir(dir: string): void {
  const file = join(dir, 'lock');
  if (held.has(file)) throw new CommandError(ExitCode.config, `spool ${dir} is in use by process ${process.pid}`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      held.add(file);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (pid && pid !== process.pid && alive(pid)) throw new CommandError(ExitCode.config, `spool ${dir} is in use by process ${pid}`);
    unlinkSync(file);
  }
  throw new CommandError(ExitCode.config, `cannot lock spool ${dir}`);
}

export function unlockDir(dir: string): void {
  held.delete(join(dir, 'lock'));
  try {
    unlinkSync(join(dir, 'lock'));
  } catch {
    // already gone
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
