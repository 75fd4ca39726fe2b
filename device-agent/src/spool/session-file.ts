// The spool's `session` file: which client id's session at the edge the spool's packet ids own
// (forwarder.ts). Replaced whole (write, fsync, rename, sync the directory), so it is old or new, never torn.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { syncDir } from './journal.ts';

export function writeSession(dir: string, clientId: string): void {
  const file = join(dir, 'session');
  const fd = openSync(`${file}.new`, 'w');
  try {
    writeSync(fd, `${JSON.stringify({ clientId })}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(`${file}.new`, file);
  syncDir(dir);
}

export function readSession(dir: string): string | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'session'), 'utf8')).clientId;
  } catch {
    return undefined;
  }
}
