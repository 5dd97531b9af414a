import { appendFileSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync, writev } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { crc32, frame, scan } from '../../src/engine/journal/frames.js';
import { JournalInbox } from '../../src/engine/journal/inbox.js';
import type { AppendResult } from '../../src/engine/inbox.js';
import { LOCK_FILE } from '../../src/engine/journal/files.js';
import { INBOX_FILE, LmdbInbox } from '../../src/engine/lmdb/inbox.js';
import { tempDir as makeTempDir } from '../helpers/gateway.js';

const OPTS = { maxPerUser: 1000, ttlMs: 3_600_000 };

const tempDir = (t: { teardown(fn: () => unknown): void }): string => makeTempDir(t, 'sb-journal-');

const entry = (i: number): { mid: string; from: string; to: string; content: unknown; timestamp: number } =>
  ({ mid: `m${i}`, from: 'a', to: 'u', content: { i }, timestamp: Date.now() });

t.test('frames: CRC-32 and the framing, byte for byte', async (t) => {
  t.equal(crc32(Buffer.from('123456789')), 0xcbf43926, 'the standard check value');
  t.equal(crc32(Buffer.alloc(0)), 0);
  // A payload of msgpack [1] (0x91 0x01): length 2, its CRC, then the payload.
  const framed = frame(Uint8Array.of(0x91, 0x01));
  const crc = crc32(Uint8Array.of(0x91, 0x01));
  t.same([...framed], [2, 0, 0, 0, crc & 0xff, (crc >>> 8) & 0xff, (crc >>> 16) & 0xff, crc >>> 24, 0x91, 0x01]);
});

t.test('frames: scan stops at the first short, empty or corrupt record', async (t) => {
  const a = frame(Uint8Array.of(0x91, 0x01));
  const b = frame(Uint8Array.of(0x92, 0x02, 0x03));
  t.same(scan(Buffer.concat([a, b])), { payloads: [Buffer.of(0x91, 0x01), Buffer.of(0x92, 0x02, 0x03)], end: 21 });
  const short = scan(Buffer.concat([a, b.subarray(0, 9)]));
  t.same([short.payloads.length, short.end], [1, 10]);
  t.match(short.damage, /short record at 10/);
  t.match(scan(Buffer.concat([a, b.subarray(0, 5)])).damage, /short header at 10/);
  t.match(scan(Buffer.concat([a, Buffer.alloc(64)])).damage, /impossible length 0 at 10/, 'zeros are not records');
  const flipped = Buffer.concat([a, b]);
  flipped[flipped.length - 1] ^= 0xff;
  t.match(scan(flipped), { end: 10, damage: /CRC mismatch at 10/ });
});

t.test('a torn record at the end of the log is cut off at open, and reported', async (t) => {
  const dir = tempDir(t);
  let inbox = await JournalInbox.open({ ...OPTS, path: dir });
  for (let i = 1; i <= 3; i++) await inbox.append('u', entry(i));
  await inbox.close();
  const log = join(dir, 'inbox-1.log');
  const intact = statSync(log).size;
  // Half a record: a header announcing 100 bytes, and 10 of them.
  const torn = Buffer.alloc(18);
  torn.writeUInt32LE(100, 0);
  appendFileSync(log, torn);
  const warnings: string[] = [];
  inbox = await JournalInbox.open({ ...OPTS, path: dir, warn: (m) => warnings.push(m) });
  t.same((await inbox.read('u', 0, 10)).map((e) => e.mid), ['m1', 'm2', 'm3']);
  t.equal(statSync(log).size, intact, 'the file ends where the last intact record does');
  t.match(warnings, [/torn record \(a short record at \d+\)/]);
  t.equal((await inbox.append('u', entry(4))).seq, 4);
  await inbox.close();
  inbox = await JournalInbox.open({ ...OPTS, path: dir });
  t.same((await inbox.read('u', 0, 10)).map((e) => e.seq), [1, 2, 3, 4], 'appends after the cut are read back');
  await inbox.close();
});

t.test('at a light load an append is written on the next turn; a steady stream waits the window', async (t) => {
  const dir = tempDir(t);
  const inbox = await JournalInbox.open({ ...OPTS, path: dir, commitWindowMs: 200 });
  t.teardown(() => inbox.close());
  const raceWindow = (p: Promise<unknown>, ms: number): Promise<string> =>
    Promise.race([p.then(() => 'written'), new Promise<string>((resolve) => setTimeout(() => resolve('still waiting'), ms).unref())]);
  t.equal(await raceWindow(inbox.append('u', entry(1)), 100), 'written', 'a lone append: at once');
  for (let i = 2; i <= 16; i++) await inbox.append('u', entry(i));
  const late = inbox.append('u', entry(17));
  t.equal(await raceWindow(late, 100), 'still waiting', 'after a stream of appends: the window applies');
  t.equal((await late).seq, 17);
});

t.test('damage before the end of the journal refuses the open', async (t) => {
  const dir = tempDir(t);
  let inbox = await JournalInbox.open({ ...OPTS, path: dir, compactMinBytes: 256 });
  for (let i = 1; i <= 20; i++) await inbox.append('u', entry(i));
  await inbox.compacted();
  await inbox.close();
  const snap = readdirSync(dir).find((name) => name.endsWith('.snap'));
  t.ok(snap, 'a snapshot was written');
  const bytes = readFileSync(join(dir, snap!));
  bytes[bytes.length - 1] ^= 0xff;
  writeFileSync(join(dir, snap!), bytes);
  await t.rejects(JournalInbox.open({ ...OPTS, path: dir }), /is damaged \(a CRC mismatch at \d+\)/);
  t.notOk(existsSync(join(dir, LOCK_FILE)), 'a refused open leaves no lock behind');
});

t.test('compaction keeps the files in proportion to the state, and the state whole', async (t) => {
  const dir = tempDir(t);
  let now = 1_000_000;
  const open = (): Promise<JournalInbox> => JournalInbox.open({ ...OPTS, path: dir, compactMinBytes: 4096 }, () => now);
  let inbox = await open();
  const dedup = (i: number): { dedup: { key: string; ttlMs: number } } => ({ dedup: { key: `k${i}`, ttlMs: 60_000 } });
  for (let i = 1; i <= 600; i++) {
    const { seq } = await inbox.append(`u${i % 3}`, { ...entry(i), timestamp: now }, dedup(i));
    // Everything but the last 10 of each user is acknowledged as it goes.
    if (seq > 10) await inbox.ack(`u${i % 3}`, seq - 10);
    await inbox.compacted();
  }
  await inbox.close();
  const names = readdirSync(dir);
  t.ok(names.some((name) => name.endsWith('.snap')), `a snapshot exists (${names.join(', ')})`);
  const bytes = names.filter((name) => /\.(log|snap)$/.test(name)).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);
  t.ok(bytes < 600 * 60, `the files hold ${bytes} bytes, well under what 600 appends and their acks were`);

  inbox = await open();
  t.teardown(() => inbox.close());
  for (let u = 0; u < 3; u++) {
    t.equal((await inbox.read(`u${u}`, 0, 100)).length, 10, `u${u}: the 10 unacknowledged entries`);
    t.equal(await inbox.lastSeq(`u${u}`), 200, `u${u}: the counter`);
  }
  const again = await inbox.append('u1', { ...entry(0), timestamp: now }, dedup(1));
  t.match(again, { seq: 1, duplicate: { mid: 'm1' } }, 'a de-duplication record from before the snapshot still answers');
  now += 120_000;
  t.equal((await inbox.append('u1', { ...entry(0), timestamp: now }, dedup(1))).seq, 201, 'and expires on time');
});

t.test('one process at a time: the directory is locked while open', async (t) => {
  const dir = tempDir(t);
  const inbox = await JournalInbox.open({ ...OPTS, path: dir });
  await t.rejects(JournalInbox.open({ ...OPTS, path: dir }), /already open in this process/);
  await inbox.close();
  // A lock left by a live process (our parent) refuses; one left by a dead process is taken over.
  writeFileSync(join(dir, LOCK_FILE), String(process.ppid));
  await t.rejects(JournalInbox.open({ ...OPTS, path: dir }), new RegExp(`in use by process ${process.ppid}`));
  writeFileSync(join(dir, LOCK_FILE), '999999999');
  const again = await JournalInbox.open({ ...OPTS, path: dir });
  t.equal(readFileSync(join(dir, LOCK_FILE), 'utf8'), String(process.pid));
  await again.close();
  t.notOk(existsSync(join(dir, LOCK_FILE)), 'close releases the lock');
});

t.test('a failed write refuses its appends and the ones after, burns their seqs and keeps the rest', async (t) => {
  const dir = tempDir(t);
  let failNext = false;
  const flaky: typeof writev = ((fd: number, buffers: NodeJS.ArrayBufferView[], position: number, cb: (err: NodeJS.ErrnoException | null, written: number, buffers: NodeJS.ArrayBufferView[]) => void) => {
    if (!failNext) return writev(fd, buffers, position, cb);
    failNext = false;
    // Part of the batch reached the file before the disk filled up.
    writev(fd, [Buffer.from('partial')], position, () => cb(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }), 0, buffers));
  }) as typeof writev;
  const warnings: string[] = [];
  let inbox = await JournalInbox.open({ ...OPTS, path: dir, writev: flaky, warn: (m) => warnings.push(m) });
  const first = await inbox.append('u', entry(1));
  failNext = true;
  const assigned: number[] = [];
  const failing = inbox.append('u', entry(2), { onAssigned: (seq) => assigned.push(seq) });
  const failingAck = inbox.ack('u', 1);
  await t.rejects(failing, /ENOSPC/);
  await t.rejects(failingAck, /ENOSPC/);
  t.same(assigned, [2], 'the seq was handed out before the write');
  t.match(warnings, [/a write failed/]);
  t.same((await inbox.read('u', 0, 10)).map((e) => e.seq), [1], 'the state is what the file holds: the ack was undone too');
  const third = await inbox.append('u', entry(3));
  t.same([third.seq, third.epoch], [3, first.epoch], 'seq 2 is burnt, the epoch kept');
  await inbox.close();
  inbox = await JournalInbox.open({ ...OPTS, path: dir });
  t.teardown(() => inbox.close());
  t.same((await inbox.read('u', 0, 10)).map((e) => [e.seq, e.mid]), [[1, 'm1'], [3, 'm3']], 'no trace of the partial write after a reopen');
  t.equal((await inbox.append('u', entry(4))).seq, 4);
});

t.test('open refuses bad options before touching the disk', async (t) => {
  const dir = tempDir(t);
  await t.rejects(JournalInbox.open({ ...OPTS, path: '' }), /path/);
  await t.rejects(JournalInbox.open({ ...OPTS, path: join(dir, 'x'), commitWindowMs: 5000 }), RangeError);
  await t.rejects(JournalInbox.open({ ...OPTS, maxPerUser: 0, path: join(dir, 'x') }), RangeError);
  t.notOk(existsSync(join(dir, 'x')), 'nothing was created');
});

t.test('an LMDB inbox in the directory is taken over once, with its counters, entries and resend records', async (t) => {
  const dir = tempDir(t);
  const now = Date.now();
  const lmdb = await LmdbInbox.open({ ...OPTS, maxPerUser: 3, path: dir });
  const appended: AppendResult[] = [];
  for (let i = 1; i <= 5; i++) appended.push(await lmdb.append('u', { ...entry(i), timestamp: now }, { dedup: { key: `k${i}`, ttlMs: 60_000 } }));
  await lmdb.append('v', { ...entry(9), timestamp: now });
  await lmdb.ack('v', 1);
  await lmdb.close();
  const warnings: string[] = [];
  let inbox = await JournalInbox.open({ ...OPTS, maxPerUser: 3, path: dir, warn: (m) => warnings.push(m) });
  t.match(warnings, [/imported 2 users and 3 stored messages/]);
  t.ok(existsSync(join(dir, `${INBOX_FILE}.imported`)) && !existsSync(join(dir, INBOX_FILE)), 'the LMDB file is renamed, not removed');
  const check = async (label: string): Promise<void> => {
    t.same((await inbox.read('u', 0, 10)).map((e) => [e.seq, e.epoch, e.mid]), [3, 4, 5].map((i) => [i, appended[0]!.epoch, `m${i}`]), `${label}: entries`);
    t.equal(await inbox.takeDropped('u'), 2, `${label}: the trimmed count`);
    t.equal(await inbox.lastSeq('v'), 1, `${label}: a user with nothing left keeps its counter`);
  };
  await check('imported');
  t.match(await inbox.append('u', entry(0), { dedup: { key: 'k4', ttlMs: 60_000 } }), { seq: 4, duplicate: { mid: 'm4' } }, 'resend records came along');
  await inbox.close();
  inbox = await JournalInbox.open({ ...OPTS, maxPerUser: 3, path: dir, warn: (m) => warnings.push(m) });
  t.teardown(() => inbox.close());
  t.equal(warnings.length, 1, 'not imported twice');
  t.same((await inbox.read('u', 0, 10)).map((e) => e.seq), [3, 4, 5], 'after a reopen: entries');
  t.equal(await inbox.takeDropped('u'), 0, 'after a reopen: the trimmed count was taken');
  t.equal((await inbox.append('u', entry(6))).seq, 6, 'after a reopen: the counter goes on');
});

t.test('a snapshot written while the state keeps changing replays to the same state', async (t) => {
  const dir = tempDir(t);
  let now = 1_000_000;
  const opts = { maxPerUser: 3, ttlMs: 60_000, path: dir, compactMinBytes: 64 * 1024 };
  let inbox = await JournalInbox.open(opts, () => now);
  const USERS = 2_000;
  const users = Array.from({ length: USERS }, (_, i) => `user${i}`);
  let snapshots = 0;
  for (let round = 0; round < 6; round++) {
    // Every user gets a message (with a resend record), in groups of 100 appends issued
    // together, so a compaction starts between two appends of a group; new users too.
    users.push(...Array.from({ length: 50 }, (_, i) => `new${round}-${i}`));
    for (let g = 0; g < users.length; g += 100) {
      await Promise.all(users.slice(g, g + 100).map((u, i) =>
        inbox.append(u, { ...entry(round * 10_000 + g + i), timestamp: now }, { dedup: { key: `r${round}`, ttlMs: 30_000 } })));
    }
    await Promise.all(users.filter((_, i) => i % 3 === round % 3).map((u) => inbox.ack(u, round)));
    await Promise.all(users.filter((_, i) => i % 5 === 0).map((u) => inbox.takeDropped(u)));
    if (round === 3) {
      now += 50_000; // the first rounds' entries expire during the next snapshots
      await inbox.sweep();
    }
    now += 2_000;
    snapshots = Math.max(snapshots, readdirSync(dir).filter((name) => name.endsWith('.snap')).length);
  }
  await inbox.compacted();
  // One more, and the state changes under it: the users it writes last are appended to
  // (and acknowledged) first, new users join, while it goes through them.
  const compaction = inbox.compact();
  const changes: Promise<unknown>[] = [];
  for (let g = users.length - 100; g >= 0; g -= 100) {
    // One group per turn, without waiting for the disk: the snapshot, which yields
    // once per turn too, is still going through the users when they change.
    await new Promise((resolve) => setImmediate(resolve));
    changes.push(...users.slice(g, g + 100).map((u, i) => inbox.append(u, { ...entry(90_000 + g + i), timestamp: now })));
    changes.push(...users.slice(g, g + 50).map((u) => inbox.ack(u, 1)));
    if (g % 500 === 0) users.push(`late${g}`);
  }
  await Promise.all(changes);
  await compaction;
  t.ok(readdirSync(dir).some((name) => name.endsWith('.snap')), 'the last snapshot is in place');
  const dump = async (): Promise<unknown[]> => Promise.all(users.map(async (u) => [u, await inbox.lastSeq(u), (await inbox.read(u, 0, 10)).map((e) => [e.seq, e.epoch, e.mid])]));
  const before = await dump();
  const dropped = await Promise.all(users.map((u) => inbox.takeDropped(u)));
  const resend = await inbox.append('user7', { ...entry(0), timestamp: now }, { dedup: { key: 'r5', ttlMs: 30_000 } });
  await inbox.close();
  t.ok(snapshots > 0, 'snapshots were written while the rounds went on');
  inbox = await JournalInbox.open(opts, () => now);
  t.teardown(() => inbox.close());
  t.same(await dump(), before, 'every user as before: counters, entries, epochs');
  t.same(await Promise.all(users.map((u) => inbox.takeDropped(u))), users.map(() => 0), 'dropped counts were taken before the reopen');
  t.ok(dropped.some((n) => n > 0), 'and there were some');
  t.same(await inbox.append('user7', { ...entry(0), timestamp: now }, { dedup: { key: 'r5', ttlMs: 30_000 } }), resend, 'resend records survive');
});
