import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import t from 'tap';
import { LmdbInbox, INBOX_FILE } from '../../src/engine/lmdb/inbox.js';
import { JournalInbox } from '../../src/engine/journal/inbox.js';
import { MemoryInbox } from '../../src/engine/memory/inbox.js';
import { LEGACY_EPOCH, type Inbox, type InboxOptions } from '../../src/engine/inbox.js';
import { inboxContract } from './inbox.contract.js';

inboxContract(t, 'memory', async (opts, clock) => {
  let inbox = new MemoryInbox(opts, clock);
  return {
    inbox,
    // A new process: a new MemoryInbox, every counter gone.
    lose: async () => {
      await inbox.close();
      inbox = new MemoryInbox(opts, clock);
      return inbox;
    },
    cleanup: () => inbox.close(),
  };
});

/** An inbox kept in a fresh directory, opened (and reopened) by `open`. */
function onDisk(prefix: string, open: (opts: InboxOptions, clock: () => number, dir: string) => Promise<Inbox>): Parameters<typeof inboxContract>[2] {
  return async (opts, clock) => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    let current: Inbox;
    try {
      current = await open(opts, clock, dir);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    return {
      inbox: current,
      reopen: async () => {
        await current.close();
        current = await open(opts, clock, dir);
        return current;
      },
      cleanup: async () => {
        await current.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  };
}

const lmdbFactory = (commitWindowMs: number): Parameters<typeof inboxContract>[2] =>
  onDisk('switchboard-inbox-', (opts, clock, path) => LmdbInbox.open({ ...opts, path, commitWindowMs }, clock));

const journalFactory = (commitWindowMs: number, compactMinBytes?: number): Parameters<typeof inboxContract>[2] =>
  onDisk('switchboard-journal-', (opts, clock, path) => JournalInbox.open({ ...opts, path, commitWindowMs, compactMinBytes }, clock));

inboxContract(t, 'journal', journalFactory(0));
inboxContract(t, 'journal, 3 ms commit window', journalFactory(3));
// Compacting after every few hundred bytes: every reopen in the contract reads snapshots.
inboxContract(t, 'journal, compacting all the time', journalFactory(0, 512));
inboxContract(t, 'lmdb', lmdbFactory(0));
// The same contract with the commit window the gateway uses by default (Offline.CommitWindow):
// appends that wait to share a commit keep every promise of the interface.
inboxContract(t, 'lmdb, 3 ms commit window', lmdbFactory(3));

t.test('lmdb: keeps its own file inside the directory, creating the directory', async (t) => {
  const parent = mkdtempSync(join(tmpdir(), 'switchboard-inbox-'));
  t.teardown(() => rmSync(parent, { recursive: true, force: true }));
  const dir = join(parent, 'nested', 'offline');
  const inbox = await LmdbInbox.open({ maxPerUser: 10, ttlMs: 1000, path: dir });
  await inbox.append('u', { mid: 'm', from: 'f', to: 'u', content: 1, timestamp: Date.now() });
  await inbox.close();
  t.ok(existsSync(join(dir, INBOX_FILE)), `${INBOX_FILE} was created in the directory`);
});

t.test('lmdb: open rejects a missing path', async (t) => {
  await t.rejects(LmdbInbox.open({ maxPerUser: 10, ttlMs: 1000, path: '' }), /path/);
  await t.rejects(LmdbInbox.open({ maxPerUser: 10, ttlMs: 1000 } as never), /path/);
});

t.test('lmdb: sweep works through more expired entries than one batch', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-inbox-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let now = 1_000_000;
  const inbox = await LmdbInbox.open({ maxPerUser: 10_000, ttlMs: 1000, path: dir }, () => now);
  t.teardown(() => inbox.close());
  // 1300 entries over 3 users > 2 batches of 512; one recent entry must survive.
  await Promise.all(Array.from({ length: 1300 }, (_, i) =>
    inbox.append(`u${i % 3}`, { mid: `m${i}`, from: 'f', to: `u${i % 3}`, content: i, timestamp: now - 5000 + i })));
  await inbox.append('u0', { mid: 'fresh', from: 'f', to: 'u0', content: null, timestamp: now });
  t.equal(await inbox.sweep(), 1300);
  t.same((await inbox.read('u0', 0, 10)).map((e) => e.mid), ['fresh']);
  t.equal((await inbox.takeDropped('u0')) + (await inbox.takeDropped('u1')) + (await inbox.takeDropped('u2')), 1300);
});

t.test('lmdb: an append whose content cannot be encoded rejects, stores nothing and burns its seq', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-inbox-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const inbox = await LmdbInbox.open({ maxPerUser: 2, ttlMs: 1000, path: dir });
  t.teardown(() => inbox.close());
  const entry = { mid: 'm', from: 'f', to: 'u', content: 1, timestamp: Date.now() };
  await inbox.append('u', entry);
  await inbox.append('u', entry);
  // Not JSON, but it reaches the encoder inside the transaction: msgpack refuses it.
  const assigned: number[] = [];
  await t.rejects(inbox.append('u', { ...entry, content: 2n ** 70n }, { onAssigned: (seq) => assigned.push(seq) }), /too large/);
  t.same(assigned, [3], 'the seq was handed out before the write');
  t.equal(await inbox.lastSeq('u'), 2, 'the stored counter did not move');
  t.equal(await inbox.takeDropped('u'), 0, 'nothing trimmed');
  t.same((await inbox.read('u', 0, 10)).map((e) => e.seq), [1, 2]);
  t.same((await inbox.ack('u', 3)).map((e) => e.seq), [1, 2], 'an ack naming the burnt seq is clamped to what is stored');
  t.match(await inbox.append('u', entry), { seq: 4, epoch: /^[0-9a-z]{12}$/, dropped: 0 }, 'the burnt seq 3 is never reused');
  t.same((await inbox.read('u', 0, 10)).map((e) => e.seq), [4]);
});

t.test('lmdb refuses a commit window out of range', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-inbox-window-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const commitWindowMs of [-1, 1001, Number.NaN]) {
    await t.rejects(LmdbInbox.open({ maxPerUser: 10, ttlMs: 1000, path: dir, commitWindowMs }), RangeError, `window ${commitWindowMs}`);
  }
  t.notOk(existsSync(join(dir, INBOX_FILE)), 'nothing opened');
});

t.test('lmdb without fsync still resolves appends that survive a reopen', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-inbox-nofsync-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const opts = { maxPerUser: 100, ttlMs: 60_000, path: dir, fsync: false };
  const first = await LmdbInbox.open(opts);
  const results = await Promise.all([1, 2, 3].map((i) => first.append('u', { mid: `m${i}`, from: 'a', to: 'u', content: i, timestamp: Date.now() })));
  t.same(results.map((r) => r.seq), [1, 2, 3]);
  await first.close();
  const second = await LmdbInbox.open(opts);
  t.same((await second.read('u', 0, 10)).map((e) => e.content), [1, 2, 3]);
  await second.close();
});

t.test('lmdb: users stored before epochs existed get the legacy epoch, once and for good', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-inbox-legacy-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const now = Date.now();
  // The previous layout, written with lmdb directly: user records without an epoch, no meta.
  const old = open({ path: join(dir, INBOX_FILE), encoding: 'msgpack' });
  const entries = old.openDB({ name: 'entries' });
  const expiry = old.openDB({ name: 'expiry' });
  const users = old.openDB({ name: 'users' });
  await old.transaction(() => {
    for (const seq of [1, 2]) {
      void entries.put(['old', seq], { mid: `m${seq}`, from: 'f', to: 'old', content: seq, timestamp: now });
      void expiry.put([now, 'old', seq], true);
    }
    void users.put('old', { last: 2, live: 2, dropped: 1 });
  });
  await old.close();

  const opts = { maxPerUser: 100, ttlMs: 60_000, path: dir };
  let inbox = await LmdbInbox.open(opts);
  t.same((await inbox.read('old', 0, 10)).map((e) => [e.seq, e.epoch]), [[1, LEGACY_EPOCH], [2, LEGACY_EPOCH]]);
  t.same(await inbox.append('old', { mid: 'm3', from: 'f', to: 'old', content: 3, timestamp: now }), { seq: 3, epoch: LEGACY_EPOCH, dropped: 0 });
  const fresh = await inbox.append('new', { mid: 'n1', from: 'f', to: 'new', content: 1, timestamp: now });
  t.not(fresh.epoch, LEGACY_EPOCH, 'new users get a random epoch');
  t.equal(await inbox.takeDropped('old'), 1, 'the rest of the record is kept');
  await inbox.close();
  inbox = await LmdbInbox.open(opts);
  t.teardown(() => inbox.close());
  t.same((await inbox.ack('old', 3, LEGACY_EPOCH)).map((e) => [e.seq, e.epoch]), [[1, LEGACY_EPOCH], [2, LEGACY_EPOCH], [3, LEGACY_EPOCH]], 'stable across reopens');
  t.equal((await inbox.append('new', { mid: 'n2', from: 'f', to: 'new', content: 2, timestamp: now })).epoch, fresh.epoch);
});

t.test('memory: each user has its own epoch; a new process (instance) starts new ones', async (t) => {
  const one = new MemoryInbox({ maxPerUser: 10, ttlMs: 1000 });
  const two = new MemoryInbox({ maxPerUser: 10, ttlMs: 1000 });
  const entry = { mid: 'm', from: 'f', to: 'u', content: 1, timestamp: Date.now() };
  const a = await one.append('a', entry);
  const b = await one.append('b', entry);
  const a2 = await two.append('a', entry);
  t.equal(new Set([a.epoch, b.epoch, a2.epoch]).size, 3);
  t.equal(one.publishesLive, false);
  t.match(await one.append('a', entry, { live: { topic: 'u:a', payload: new Uint8Array(16), epochAt: 0, seqAt: 12, origin: 'n' } }), { seq: 2, epoch: a.epoch },
    'a live option is ignored: the caller publishes');
});

t.test('lmdb: de-duplication records written in the object form by earlier versions still answer a resend', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-inbox-dedup-old-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const now = Date.now();
  const opts = { maxPerUser: 100, ttlMs: 60_000, path: dir };
  // A file of the current layout with one message, then its record rewritten the old way.
  let inbox = await LmdbInbox.open(opts);
  const first = await inbox.append('u', { mid: 'm1', from: 'a', to: 'u', content: 1, timestamp: now }, { dedup: { key: 'k1', ttlMs: 60_000 } });
  await inbox.close();
  const raw = open({ path: join(dir, INBOX_FILE), encoding: 'msgpack' });
  const dedup = raw.openDB({ name: 'dedup' });
  t.ok(Array.isArray(dedup.get(['u', 'k1'])), 'records are written in the compact form');
  t.ok(Array.isArray(raw.openDB({ name: 'entries' }).get(['u', first.seq])), 'entries too');
  t.ok(Array.isArray(raw.openDB({ name: 'users' }).get('u')), 'and user records');
  await dedup.put(['u', 'k1'], { seq: first.seq, epoch: first.epoch, mid: 'm1', timestamp: now, writtenAt: now, expires: now + 60_000 });
  await raw.close();

  inbox = await LmdbInbox.open(opts);
  t.teardown(() => inbox.close());
  const again = await inbox.append('u', { mid: 'm2', from: 'a', to: 'u', content: 1, timestamp: now }, { dedup: { key: 'k1', ttlMs: 60_000 } });
  t.same(again, { seq: first.seq, epoch: first.epoch, dropped: 0, duplicate: { mid: 'm1', timestamp: now } });
  t.equal((await inbox.read('u', 0, 10)).length, 1, 'nothing appended for the resend');
});

t.test('lmdb: appends remove expired de-duplication records as they go, without a sweep', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-inbox-dedup-sweep-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let now = 1_000_000;
  const opts = { maxPerUser: 10_000, ttlMs: 3_600_000, path: dir };
  let inbox = await LmdbInbox.open(opts, () => now);
  const append = (i: number): Promise<unknown> =>
    inbox.append('u', { mid: `m${i}`, from: 'a', to: 'u', content: i, timestamp: now }, { dedup: { key: `k${i}`, ttlMs: 1_000 } });
  for (let i = 0; i < 50; i++) await append(i);
  now += 5_000; // every record so far has expired
  for (let i = 50; i < 75; i++) await append(i);
  await inbox.close();
  const raw = open({ path: join(dir, INBOX_FILE), encoding: 'msgpack' });
  const records = raw.openDB<unknown, [string, string]>({ name: 'dedup' });
  const expiry = raw.openDB({ name: 'dedupExpiry' });
  // The appends queued lazy sweeps: the 50 expired records are gone, the 25 new ones kept.
  t.same([records.getCount(), expiry.getCount()], [25, 25]);
  t.same(Array.from(records.getKeys()).map(([, key]) => key).sort(), Array.from({ length: 25 }, (_, i) => `k${50 + i}`).sort());
  await raw.close();
  inbox = await LmdbInbox.open(opts, () => now);
  t.teardown(() => inbox.close());
});
