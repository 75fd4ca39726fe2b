// The on-disk spool: order, acknowledgement, recovery after a crash, torn records, bounds,
// segment clean-up and the directory lock. Files are real, in a temp directory.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { agentNode, tempDir } from './helpers/agent.mjs';
import lib from '../dist/index.js';

const { Spool } = lib;
const utf8 = (s) => new TextEncoder().encode(s);
const msg = (i, qos = 1) => ({ topic: `t/${i}`, payload: utf8(`m${i}`), qos, retain: i % 2 === 0 });
const names = (list) => list.map((m) => new TextDecoder().decode(m.payload));

const segmentFiles = (dir) => readdirSync(dir).filter((n) => n.endsWith('.seg')).sort().map((n) => join(dir, n));

/** Offsets of the records in a segment (u32 length, u32 crc, body). */
function recordOffsets(bytes) {
  const out = [];
  for (let at = 0; at + 8 <= bytes.length; at += 8 + bytes.readUInt32BE(at)) out.push(at);
  return out;
}

function spool(dir, opts = {}) {
  const s = new Spool({ dir, maxMessages: 1000, maxBytes: 1 << 20, whenFull: 'drop-new', fsync: 'always', ...opts });
  return { s, opened: s.open() };
}

describe('spool', () => {
  test('messages come out in order, acknowledged ones leave, and a reopen keeps exactly the rest', async () => {
    const dir = tempDir('spool');
    const { s } = spool(dir);
    for (let i = 1; i <= 5; i++) assert.equal(await s.append(msg(i)), true);
    const first = s.after(0, 3);
    assert.deepEqual(names(first), ['m1', 'm2', 'm3']);
    assert.deepEqual(names(s.after(first[2].seq, 10)), ['m4', 'm5']);
    s.ack(first[1].seq); // out of order: the head stays until m1 is done too
    assert.equal(s.depth, 5);
    s.ack(first[0].seq);
    assert.equal(s.depth, 3);
    await s.close();
    const { s: again, opened } = spool(dir);
    assert.equal(opened.recovered, 3);
    const rest = again.after(0, 10);
    assert.deepEqual(names(rest), ['m3', 'm4', 'm5']);
    assert.deepEqual([rest[1].topic, rest[1].retain, rest[1].qos], ['t/4', true, 1]);
    await again.append(msg(6));
    assert.ok(again.after(0, 10).at(-1).seq > rest[2].seq, 'new messages are numbered after the old ones');
    await again.close();
  });

  test('the records\' CRC-32 (eight bytes a step) agrees with zlib\'s for every length around the step', async () => {
    const { crc32: zlibCrc } = await import('node:zlib');
    for (let n = 0; n <= 40; n++) {
      const bytes = new Uint8Array(n).map((_, i) => (i * 151 + n * 7) & 0xff);
      assert.equal(lib.crc32(bytes), zlibCrc(bytes), `${n} bytes`);
      assert.equal(lib.crc32(bytes.subarray(1)), zlibCrc(bytes.subarray(1)), `${n} bytes, unaligned`);
    }
  });

  test('a message written twice (a repair copies it into a new segment) is replayed once, the later copy, in number order', async () => {
    const dir = tempDir('spool');
    const record = (seq, text) => lib.encodeRecord({ kind: 'message', message: { seq, topic: 't', payload: utf8(text), qos: 1, retain: false } });
    writeFileSync(join(dir, '0000000000000001.seg'), Buffer.concat([record(1, 'm1'), record(2, 'm2'), record(3, 'm3')]));
    writeFileSync(join(dir, '0000000000000004.seg'), Buffer.concat([record(3, 'm3 again'), record(2, 'm2 again'), record(4, 'm4')]));
    const { s, opened } = spool(dir);
    assert.deepEqual(names(s.after(0, 10)), ['m1', 'm2 again', 'm3 again', 'm4']);
    assert.deepEqual([opened.recovered, opened.missing, opened.damagedPlaces], [4, 0, 0]);
    await s.append(msg(5));
    assert.deepEqual(s.after(0, 10).map((m) => m.seq), [1, 2, 3, 4, 5]);
    await s.close();
  });

  test('a record torn by a power cut is cut off and everything before it survives', async () => {
    const dir = tempDir('spool');
    const { s } = spool(dir);
    for (let i = 1; i <= 3; i++) await s.append(msg(i));
    await s.close();
    const seg = readdirSync(dir).filter((n) => n.endsWith('.seg')).sort().map((n) => join(dir, n)).find((f) => statSync(f).size > 0);
    truncateSync(seg, statSync(seg).size - 3); // the last record loses its tail
    appendFileSync(seg, Buffer.from([0, 0]));
    const { s: again, opened } = spool(dir);
    assert.deepEqual(names(again.after(0, 10)), ['m1', 'm2']);
    assert.equal(opened.tornTailOnly, true);
    assert.ok(opened.damagedBytes > 0);
    await again.close();
  });

  test('a record with a flipped bit is not trusted', async () => {
    const dir = tempDir('spool');
    const { s } = spool(dir);
    await s.append(msg(1));
    await s.append(msg(2));
    await s.close();
    const seg = readdirSync(dir).filter((n) => n.endsWith('.seg')).sort().map((n) => join(dir, n)).find((f) => statSync(f).size > 0);
    const bytes = (await import('node:fs')).readFileSync(seg);
    bytes[bytes.length - 1] ^= 0x01;
    writeFileSync(seg, bytes);
    const { s: again } = spool(dir);
    assert.deepEqual(names(again.after(0, 10)), ['m1']);
    await again.close();
  });

  test('full: drop-new refuses the arriving message, drop-old gives up the oldest; both are counted and reported', async () => {
    const dropped = [];
    const { s } = spool(tempDir('spool'), { maxMessages: 2, onDrop: (m, why) => dropped.push(`${new TextDecoder().decode(m.payload)}: ${why}`) });
    assert.deepEqual([await s.append(msg(1)), await s.append(msg(2)), await s.append(msg(3))], [true, true, false]);
    assert.deepEqual(names(s.after(0, 10)), ['m1', 'm2']);
    assert.equal(s.dropped, 1);
    await s.close();
    const old = spool(tempDir('spool'), { maxMessages: 2, whenFull: 'drop-old', onDrop: (m, why) => dropped.push(`${new TextDecoder().decode(m.payload)}: ${why}`) }).s;
    for (let i = 1; i <= 3; i++) assert.equal(await old.append(msg(i)), true);
    assert.deepEqual(names(old.after(0, 10)), ['m2', 'm3']);
    assert.deepEqual(dropped, ['m3: spool full', 'm1: spool full, oldest dropped']);
    await old.close();
  });

  test('the byte bound counts topic and payload', async () => {
    const { s } = spool(tempDir('spool'), { maxBytes: 2048 });
    const big = { topic: 'b', payload: new Uint8Array(1500), qos: 1, retain: false };
    assert.equal(await s.append(big), true);
    assert.equal(await s.append(big), false);
    assert.equal(await s.append({ ...big, payload: new Uint8Array(4096) }), false, 'larger than the whole spool');
    await s.close();
  });

  test('segments rotate and fully acknowledged ones are deleted', async () => {
    const dir = tempDir('spool');
    const s = new Spool({ dir, maxMessages: 10_000, maxBytes: 1 << 24, whenFull: 'drop-new', fsync: 'never', segmentBytes: 4096 });
    s.open();
    const payload = new Uint8Array(500);
    for (let i = 0; i < 40; i++) await s.append({ topic: 'seg', payload, qos: 1, retain: false });
    const segments = () => readdirSync(dir).filter((n) => n.endsWith('.seg')).length;
    assert.ok(segments() >= 4, `rotated into ${segments()} segments`);
    for (const m of s.after(0, 100)) s.ack(m.seq);
    await s.close();
    assert.equal(segments(), 1, 'only the segment being written remains');
    const again = new Spool({ dir, maxMessages: 10, maxBytes: 1 << 20, whenFull: 'drop-new', fsync: 'never' });
    assert.equal(again.open().recovered, 0);
    await again.close();
  });

  test('one process per spool directory; a lock left by a dead process is taken over', async () => {
    const dir = tempDir('spool');
    const { s } = spool(dir);
    assert.throws(() => spool(dir), /in use by process/);
    await s.close();
    writeFileSync(join(dir, 'lock'), '999999999\n');
    const { s: again } = spool(dir);
    await again.close();
  });

  test('a lock whose pid now belongs to another process (a reboot reused it) is stale; a live owner is not', async () => {
    const dir = tempDir('spool');
    const other = spawn('sleep', ['30']);
    try {
      writeFileSync(join(dir, 'lock'), `${other.pid} 1\n`); // start time 1: not this sleep's
      const { s } = spool(dir);
      await s.close();
      const start = readFileSync(`/proc/${other.pid}/stat`, 'utf8').split(') ')[1].split(' ')[19];
      writeFileSync(join(dir, 'lock'), `${other.pid} ${start}\n`);
      assert.throws(() => spool(dir), (err) => err.exitCode === 1 && /in use by process/.test(err.message), 'exit 1: systemd tries again');
    } finally {
      other.kill('SIGKILL');
    }
  });

  test('one flipped byte in message 20 of 200 loses that message only, counted; the rest is forwarded in order', async () => {
    const dir = tempDir('spool');
    const { s } = spool(dir);
    for (let i = 1; i <= 200; i++) await s.append(msg(i));
    await s.close();
    const seg = segmentFiles(dir).find((f) => statSync(f).size > 0);
    const bytes = readFileSync(seg);
    const at = recordOffsets(bytes)[19];
    bytes[at + 8 + 14] ^= 0x40; // inside message 20's topic
    writeFileSync(seg, bytes);
    const { s: again, opened } = spool(dir);
    const got = names(again.after(0, 1000));
    assert.equal(got.length, 199);
    assert.ok(!got.includes('m20') && got[18] === 'm19' && got[19] === 'm21' && got.at(-1) === 'm200');
    assert.deepEqual([opened.damagedPlaces, opened.missing, opened.tornTailOnly], [1, 1, false]);
    await again.close();
  });

  test('a record damaged on disk after it was stored is found when read back for forwarding: that message alone is lost, reported, and not owed after a reopen', async () => {
    const dir = tempDir('spool');
    const { s } = spool(dir);
    for (let i = 1; i <= 5; i++) await s.append(msg(i));
    const seg = segmentFiles(dir).find((f) => statSync(f).size > 0);
    const bytes = readFileSync(seg);
    bytes[recordOffsets(bytes)[2] + 8 + 16] ^= 0x04; // inside message 3's topic
    writeFileSync(seg, bytes);
    const lost = [];
    s.onUnreadable = (seq, why) => lost.push(why);
    assert.deepEqual(names(s.after(0, 10)), ['m1', 'm2', 'm4', 'm5']);
    assert.deepEqual([lost, s.unreadable, s.depth], [['checksum mismatch'], 1, 5]);
    await s.close();
    const { s: again, opened } = spool(dir);
    assert.deepEqual(names(again.after(0, 10)), ['m1', 'm2', 'm4', 'm5']);
    assert.equal(opened.missing, 0, 'reported when it was found, not again');
    await again.close();
  });

  test('a flipped byte in a record\'s length field costs that record only', async () => {
    const dir = tempDir('spool');
    const { s } = spool(dir);
    for (let i = 1; i <= 50; i++) await s.append(msg(i));
    await s.close();
    const seg = segmentFiles(dir).find((f) => statSync(f).size > 0);
    const bytes = readFileSync(seg);
    bytes[recordOffsets(bytes)[9] + 2] ^= 0x01;
    writeFileSync(seg, bytes);
    const { s: again, opened } = spool(dir);
    assert.equal(again.depth, 49);
    assert.equal(opened.missing, 1);
    await again.close();
  });

  test('out-of-order completions and PUBREC marks survive a reopen', async () => {
    const dir = tempDir('spool');
    const { s } = spool(dir);
    for (let i = 1; i <= 4; i++) await s.append(msg(i, 2));
    const [m1, m2, m3] = s.after(0, 3);
    s.ack(m2.seq);
    await s.markReleased(m3.seq);
    await s.close();
    const { s: again } = spool(dir);
    assert.deepEqual(names(again.after(0, 10)), ['m1', 'm3', 'm4']);
    assert.deepEqual([again.isReleased(m1.seq), again.isReleased(m3.seq)], [false, true]);
    await again.close();
  });

  test('senders\' held QoS 2 ids survive a reopen per session, and outlive the segments that recorded them', async () => {
    const dir = tempDir('spool');
    const open = () => new Spool({ dir, maxMessages: 10_000, maxBytes: 1 << 24, whenFull: 'drop-new', fsync: 'never', segmentBytes: 4096 });
    const s = open();
    s.open();
    const payload = new Uint8Array(500);
    await s.append({ topic: 'q2', payload, qos: 2, retain: false }, { session: 'dev-a', id: 7 });
    await s.append({ topic: 'q2', payload, qos: 2, retain: false }, { session: 'dev-b', id: 7 });
    await s.append({ topic: 'q2', payload, qos: 2, retain: false }, { session: 'dev-b', id: 8 });
    await s.append({ topic: 'q2', payload, qos: 2, retain: false }, { session: '', id: 9 });
    await s.free('dev-b', 8);
    for (let i = 0; i < 40; i++) await s.append({ topic: 'q1', payload, qos: 1, retain: false });
    for (const m of s.after(0, 100)) s.ack(m.seq); // every segment that recorded the ids goes
    await s.close();
    assert.equal(segmentFiles(dir).length, 1);
    const again = open();
    again.open();
    assert.deepEqual([...again.heldIds('dev-a')], [7]);
    assert.deepEqual([...again.heldIds('dev-b')], [7], 'id 8 was released');
    assert.deepEqual([...again.heldIds('')], [9]);
    assert.equal(again.isHeld('dev-c', 7), false);
    await again.endSession('dev-b');
    await again.free('dev-a', 7);
    await again.close();
    const third = open();
    third.open();
    assert.deepEqual([third.heldCountOf('dev-a'), third.heldCountOf('dev-b'), third.heldCountOf('')], [0, 0, 1]);
    await third.close();
  });

  test('a restart that goes on writing the segment the last run left (no message in it yet) reads back what it appends', async () => {
    const dir = tempDir('spool');
    const first = spool(dir).s;
    await first.append(msg(1, 2), { session: 'dev', id: 1 });
    await first.close();
    const second = spool(dir).s; // a new segment, starting with the held id; then only an ack goes in it
    second.ack(second.after(0, 1)[0].seq);
    await second.close();
    const files = segmentFiles(dir);
    const { s: third } = spool(dir);
    assert.deepEqual(segmentFiles(dir), files, 'the same segment is written again');
    for (let i = 2; i <= 4; i++) await third.append(msg(i));
    let lost = 0;
    third.onUnreadable = () => lost++;
    assert.deepEqual(names(third.after(0, 10)), ['m2', 'm3', 'm4']);
    assert.equal(lost, 0);
    await third.close();
  });

  test('held QoS 2 ids are bounded: past maxHeld the session heard of least recently ends, and says so', async () => {
    const dir = tempDir('spool');
    const expired = [];
    const s = new Spool({ dir, maxMessages: 10_000, maxBytes: 1 << 24, whenFull: 'drop-new', fsync: 'never', maxHeld: 4, onSessionExpired: (session, n) => expired.push([session, n]) });
    s.open();
    const m = { topic: 'q2', payload: utf8('x'), qos: 2, retain: false };
    await s.append(m, { session: 'old', id: 1 });
    await s.append(m, { session: 'old', id: 2 });
    await s.append(m, { session: 'new', id: 1 });
    await s.append(m, { session: 'new', id: 2 });
    await s.append(m, { session: 'new', id: 3 });
    assert.deepEqual(expired, [['old', 2]]);
    assert.deepEqual([s.heldCountOf('old'), s.heldCountOf('new')], [0, 3]);
    assert.equal(s.depth, 5, 'no message is dropped, only the ids');
    await s.close();
    const again = new Spool({ dir, maxMessages: 10_000, maxBytes: 1 << 24, whenFull: 'drop-new', fsync: 'never' });
    again.open();
    assert.deepEqual([again.heldCountOf('old'), again.heldCountOf('new')], [0, 3]);
    await again.close();
  });

  test('a held id whose message could not be stored is the sender\'s again', async () => {
    const dir = tempDir('spool');
    const s = new Spool({ dir, maxMessages: 10_000, maxBytes: 1 << 24, whenFull: 'drop-new', fsync: 'always' });
    s.open();
    rmSync(dir, { recursive: true });
    await assert.rejects(s.append({ topic: 'q2', payload: utf8('x'), qos: 2, retain: false }, { session: 'dev', id: 5 }));
    assert.equal(s.isHeld('dev', 5), false);
    await s.close().catch(() => {});
  });

  test('disk full: the append is refused (never acknowledged), and the spool takes messages again once it can write', async () => {
    const dir = tempDir('spool');
    symlinkSync('/dev/full', join(dir, '0000000000000001.seg'));
    const { s } = spool(dir, { fsync: 'never' });
    let broken;
    s.onBroken = (err) => (broken = err);
    await assert.rejects(s.append(msg(1)), /ENOSPC|no space/i);
    await assert.rejects(s.append(msg(2)), 'refused at once while broken');
    assert.equal(s.depth, 0, 'nothing refused is queued');
    assert.match(String(broken), /ENOSPC|no space/i);
    unlinkSync(join(dir, '0000000000000001.seg'));
    const repaired = new Promise((r) => (s.onRepaired = r));
    await repaired;
    assert.equal(await s.append(msg(3)), true);
    await s.close();
    const { s: again } = spool(dir);
    assert.deepEqual(names(again.after(0, 10)), ['m3']);
    await again.close();
  });

  test('the spool directory deleted while running: noticed on the next append, which is refused; what is owed is written again', async () => {
    const dir = tempDir('spool');
    const { s } = spool(dir);
    for (let i = 1; i <= 3; i++) await s.append(msg(i));
    rmSync(dir, { recursive: true });
    await assert.rejects(s.append(msg(4)), /deleted/);
    const rewritten = await new Promise((r) => (s.onRepaired = r));
    assert.equal(rewritten, 3);
    assert.equal(await s.append(msg(5)), true);
    assert.throws(() => spool(dir), /in use/, 'a second agent cannot take the recreated directory');
    await s.close();
    const { s: again } = spool(dir);
    assert.deepEqual(names(again.after(0, 10)), ['m1', 'm2', 'm3', 'm5']);
    await again.close();
  });

  test('a 32 MB heap queues and replays 300,000 messages (their places, not their contents); past the lowered --spool-max-messages they are dropped, not an abort', async () => {
    const dir = tempDir('spool');
    const script = `
      const { Spool } = require(${JSON.stringify(new URL('../dist/index.js', import.meta.url).pathname)});
      const opts = () => ({ dir: ${JSON.stringify(dir)}, maxMessages: 1e7, maxBytes: 2 ** 40, whenFull: 'drop-new', fsync: 'never', segmentBytes: 1 << 22 });
      const s = new Spool(opts());
      s.open();
      (async () => {
        for (let i = 0; i < 330; i++) {
          const batch = [];
          for (let j = 0; j < 1000; j++) batch.push(s.append({ topic: 'sensors/board-7/temp', payload: Buffer.from('23.5'), qos: 1, retain: false }));
          await Promise.all(batch);
        }
        const heap = process.memoryUsage().heapUsed;
        await s.close();
        const again = new Spool(opts());
        const { recovered } = again.open();
        const last = again.after(again.after(0, 1)[0].seq + recovered - 2, 10);
        console.log(JSON.stringify({ lowered: s.loweredFrom, max: s.opts.maxMessages, depth: s.depth, dropped: s.dropped, recovered, heap, last: last.length }));
      })();`;
    const r = spawnSync(agentNode, ['--max-old-space-size=32', '--max-semi-space-size=1', '-e', script], { encoding: 'utf8', timeout: 90_000 });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.lowered, 1e7);
    assert.ok(out.max >= 300_000 && out.max < 330_000, `lowered to ${out.max}`);
    assert.equal(out.depth, out.max);
    assert.equal(out.dropped, 330_000 - out.max);
    assert.equal(out.recovered, out.depth);
    assert.equal(out.last, 1, 'the last message replayed is readable');
    assert.ok(out.heap < 24 << 20, `heap used ${out.heap} bytes with ${out.depth} queued`);
  });

  for (const fsync of ['always', 25, 'never']) {
    test(`fsync ${fsync}: messages acknowledged before a SIGKILL are there after it`, async () => {
      const dir = tempDir('spool');
      const script = `
        const { Spool } = require(${JSON.stringify(new URL('../dist/index.js', import.meta.url).pathname)});
        const s = new Spool({ dir: ${JSON.stringify(dir)}, maxMessages: 1000, maxBytes: 1 << 20, whenFull: 'drop-new', fsync: ${JSON.stringify(fsync)} });
        s.open();
        (async () => {
          for (let i = 1; i <= 50; i++) await s.append({ topic: 'k', payload: Buffer.from('m' + i), qos: 1, retain: false });
          console.log('stored');
          setInterval(() => {}, 1000);
        })();`;
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise((resolve, reject) => {
        child.stdout.on('data', (d) => String(d).includes('stored') && resolve());
        child.on('exit', () => reject(new Error('child exited early')));
        setTimeout(() => reject(new Error('child too slow')), 15_000);
      });
      child.kill('SIGKILL');
      await new Promise((r) => child.on('exit', r));
      const { s, opened } = spool(dir);
      assert.equal(opened.recovered, 50);
      assert.deepEqual(names(s.after(0, 2)), ['m1', 'm2']);
      await s.close();
    });
  }
});
