// The spool's writer: appends records to the current segment file and syncs them per the fsync
// policy (the one place that does). A batch that cannot be stored — disk full, a read-only file
// system, the directory deleted (the file is unlinked) — rejects every record in it, and the
// journal stays broken until the Spool has made it a fresh segment.
//   always  one fdatasync per batch of appends, before any of them is acknowledged (group commit)
//   <ms>    appends are acknowledged once written; fdatasync at most every <ms> milliseconds
//   never   written to the OS at once, synced when the OS decides (survives a crash, not a power cut)
import { closeSync, fdatasync, fdatasyncSync, fstat, fstatSync, fsyncSync, ftruncateSync, openSync, write, writeSync } from 'node:fs';
import { join } from 'node:path';
import { concat } from '../frame.ts';

export type FsyncPolicy = 'always' | 'never' | number;

/** Where a record was stored: its segment file and the offset of its first byte there. */
export interface Place {
  segment: string;
  offset: number;
}

interface Waiter {
  bytes: number;
  resolve(place: Place): void;
  reject(err: Error): void;
}

export class Journal {
  /** Why the last write failed; set until open() succeeds again. */
  broken?: Error;
  name = '';
  private fd = -1;
  private size = 0;
  private preambleBytes = 0;
  private batch: Uint8Array[] = [];
  private waiters: Waiter[] = [];
  private flushing?: Promise<void>;
  private syncTimer?: ReturnType<typeof setTimeout>;

  /**
   * `nextName` names a new segment when the current one passes `segmentBytes`; `onOpen` hears of
   * every segment started (before anything but the preamble is written to it; a throw fails the
   * open); `preamble` gives the records every new segment starts with (state that must outlive the
   * segments holding its history), written and synced before anything else.
   */
  constructor(
    private readonly dir: string,
    private readonly policy: FsyncPolicy,
    private readonly segmentBytes: number,
    private readonly nextName: () => string,
    private readonly onOpen: (name: string) => void,
    private readonly preamble: () => Uint8Array = () => new Uint8Array(0),
  ) {}

  get bytes(): number {
    return this.size;
  }

  /** Starts segment `name` (closing the current one); throws if it cannot be created. */
  open(name: string): void {
    this.closeFile();
    const fd = openSync(join(this.dir, name), 'a');
    const first = this.preamble();
    try {
      for (let at = 0; at < first.length; ) at += writeSync(fd, first, at);
      if (this.policy === 'always' && first.length > 0) fdatasyncSync(fd);
      this.onOpen(name);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    this.fd = fd;
    this.name = name;
    // The same file again (after a repair, or a replayed segment that holds no message yet): records go after what it holds.
    this.size = fstatSync(fd).size;
    this.preambleBytes = first.length;
    this.broken = undefined;
    if (this.policy === 'always') syncDir(this.dir); // the new file's name survives a power cut
  }

  /** Resolves with where `bytes` went once they are stored per the policy; rejects if they cannot be. */
  write(bytes: Uint8Array): Promise<Place> {
    if (this.broken) return Promise.reject(this.broken);
    this.batch.push(bytes);
    const done = new Promise<Place>((resolve, reject) => this.waiters.push({ bytes: bytes.length, resolve, reject }));
    this.flushing ??= new Promise((r) => setImmediate(r)).then(() => this.flush());
    return done;
  }

  /** Waits for what is queued, then syncs and closes the file. */
  async close(): Promise<void> {
    while (this.flushing) await this.flushing;
    this.closeFile();
  }

  private async flush(): Promise<void> {
    while (this.batch.length > 0) {
      const bytes = concat(this.batch.splice(0));
      const waiters = this.waiters.splice(0);
      try {
        if (this.broken) throw this.broken;
        const [segment, start] = [this.name, this.size];
        await this.store(bytes);
        if (this.size - this.preambleBytes > this.segmentBytes) this.open(this.nextName());
        let offset = start;
        for (const w of waiters) {
          w.resolve({ segment, offset });
          offset += w.bytes;
        }
      } catch (err) {
        this.fail(err as Error);
        for (const w of waiters) w.reject(this.broken!);
      }
    }
    this.flushing = undefined;
  }

  /**
   * Appends `bytes` at once, bypassing the batch (a repair copying records into a fresh segment
   * before anything else is written to it); returns their offset. syncNow() makes them durable.
   */
  appendSync(bytes: Uint8Array): number {
    const offset = this.size;
    for (let at = 0; at < bytes.length; ) at += writeSync(this.fd, bytes, at);
    this.size += bytes.length;
    return offset;
  }

  /** fdatasync now, unless the policy is never. */
  syncNow(): void {
    if (this.policy !== 'never') fdatasyncSync(this.fd);
  }

  private async store(bytes: Uint8Array): Promise<void> {
    const fd = this.fd;
    await writeAll(fd, bytes);
    this.size += bytes.length;
    if (this.policy === 'always') await new Promise<void>((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));
    else if (typeof this.policy === 'number') this.scheduleSync(this.policy);
    // Deleted with its directory: what we write is gone, so nothing in it may be acknowledged.
    const links = await new Promise<number>((resolve, reject) => fstat(fd, (err, st) => (err ? reject(err) : resolve(st.nlink))));
    if (links === 0) throw new Error(`segment ${this.name} was deleted (the spool directory is gone)`);
  }

  private fail(err: Error): void {
    if (this.broken) return;
    this.broken = err;
    try {
      ftruncateSync(this.fd, this.size); // a partly written batch is not left behind
    } catch {
      // read-only or gone: replay skips a torn record anyway
    }
    this.closeFile();
  }

  private scheduleSync(ms: number): void {
    if (this.syncTimer) return;
    this.syncTimer = setTimeout(() => {
      this.syncTimer = undefined;
      if (this.fd >= 0) fdatasync(this.fd, () => {});
    }, ms);
  }

  private closeFile(): void {
    clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    try {
      if (this.policy !== 'never') fsyncSync(fd);
    } catch {
      // a broken file: nothing more to save
    }
    closeSync(fd);
  }
}

function writeAll(fd: number, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (at: number) =>
      write(fd, bytes, at, bytes.length - at, null, (err, n) => (err ? reject(err) : at + n < bytes.length ? step(at + n) : resolve()));
    step(0);
  });
}

export function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
