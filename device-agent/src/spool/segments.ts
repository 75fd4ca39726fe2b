// The spool's segment files, as the queue reads them back. Each stays open for reading from when it
// is started (or replayed) until it is deleted, so that the records of a segment deleted with its
// directory can still be read and written again by a repair. Segments are deleted oldest first,
// once every message they hold is acknowledged.
import { closeSync, fstatSync, openSync, readSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { SegmentFile } from './replay.ts';

/** Where a queued message's record is: segment id, offset and length (header included). */
export interface RecordPlace {
  seq: number;
  segment: number;
  offset: number;
  length: number;
}

/** How much of a segment one read takes at most: the record asked for and the stored ones after it. */
const readAhead = 64 << 10;

export class Segments {
  private list: SegmentFile[] = [];
  private window?: { segment: number; offset: number; bytes: Uint8Array };
  private nextId = 1;

  constructor(private readonly dir: string) {}

  /** Takes the segments a replay found (their files open). */
  adopt(list: SegmentFile[]): void {
    this.list = list;
    for (const s of list) this.nextId = Math.max(this.nextId, s.id + 1);
  }

  /** The segment the journal writes to, named `name`. */
  byName(name: string): SegmentFile | undefined {
    for (let i = this.list.length - 1; i >= 0; i--) if (this.list[i].name === name) return this.list[i];
    return undefined;
  }

  /**
   * The journal started segment `name` (new, or the same file again after a repair): it becomes the
   * last; the one before it ends at `lastSeq`, the highest message number given out so far.
   */
  opened(name: string, lastSeq: number): void {
    const fd = openSync(join(this.dir, name), 'r');
    const known = this.list.find((s) => s.name === name && sameFile(s.fd, fd));
    if (known) closeSync(fd);
    this.list = this.list.filter((s) => s !== known);
    this.list.push(known ?? { id: this.nextId++, name, lastSeq: 0, fd });
    this.list[this.list.length - 1].lastSeq = Number.MAX_SAFE_INTEGER;
    if (this.list.length > 1) this.list[this.list.length - 2].lastSeq = lastSeq;
  }

  /** Deletes the segments whose every message is acknowledged, except the one being written. */
  compact(ackedSeq: number): void {
    while (this.list.length > 1 && this.list[0].lastSeq <= ackedSeq) {
      const s = this.list.shift()!;
      closeSync(s.fd);
      try {
        unlinkSync(join(this.dir, s.name));
      } catch {
        // already gone (the directory was deleted): repair rewrites what is owed
      }
    }
  }

  /** Segments whose file is gone (deleted with the directory) but still open here. */
  lost(): SegmentFile[] {
    return this.list.filter((s) => fstatSync(s.fd).nlink === 0);
  }

  /** Forgets `gone` (lost segments whose records were written again) and closes their files. */
  forget(gone: SegmentFile[]): void {
    this.list = this.list.filter((s) => !gone.includes(s));
    for (const s of gone) closeSync(s.fd);
  }

  /** `length` bytes at `offset` of segment `id` (fewer if the file ends first); throws if it cannot be read. */
  read(id: number, offset: number, length: number): Uint8Array {
    const s = this.list.find((x) => x.id === id);
    if (!s) throw new Error(`segment ${id} is not open`);
    const buf = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const n = readSync(s.fd, buf, got, length - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  }

  /**
   * The records at `places` (queue order), or the Error that kept one from being read. Reads go
   * through one window of at most `readAhead` bytes kept between calls: a read starting at a record
   * takes everything up to `aheadTo(place)` with it (stored records only: they never change), so a
   * forwarding window costs one read every 64 KiB, not one a message.
   */
  readAll(places: RecordPlace[], aheadTo: (p: RecordPlace) => number): Array<Uint8Array | Error> {
    return places.map((p) => {
      try {
        const w = this.window;
        if (!w || w.segment !== p.segment || p.offset < w.offset || p.offset + p.length > w.offset + w.bytes.length) {
          const end = Math.max(p.offset + p.length, Math.min(aheadTo(p), p.offset + readAhead));
          this.window = { segment: p.segment, offset: p.offset, bytes: this.read(p.segment, p.offset, end - p.offset) };
        }
        const { offset, bytes } = this.window!;
        return bytes.subarray(p.offset - offset, p.offset - offset + p.length);
      } catch (err) {
        return err as Error;
      }
    });
  }

  closeAll(): void {
    for (const s of this.list) closeSync(s.fd);
    this.list = [];
  }
}

function sameFile(a: number, b: number): boolean {
  const [x, y] = [fstatSync(a), fstatSync(b)];
  return x.ino === y.ino && x.dev === y.dev;
}
