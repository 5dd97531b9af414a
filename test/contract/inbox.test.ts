import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { LmdbInbox, INBOX_FILE } from '../../src/engine/lmdb/inbox.js';
import { MemoryInbox } from '../../src/engine/memory/inbox.js';
import type { Inbox } from '../../src/engine/inbox.js';
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

inboxContract(t, 'lmdb', async (opts, clock) => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-inbox-'));
  let current: Inbox;
  try {
    current = await LmdbInbox.open({ ...opts, path: dir }, clock);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    inbox: current,
    reopen: async () => {
      await current.close();
      current = await LmdbInbox.open({ ...opts, path: dir }, clock);
      return current;
    },
    cleanup: async () => {
      await current.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

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

t.test('lmdb: an append whose content cannot be encoded rejects and leaves no trace', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-inbox-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const inbox = await LmdbInbox.open({ maxPerUser: 2, ttlMs: 1000, path: dir });
  t.teardown(() => inbox.close());
  const entry = { mid: 'm', from: 'f', to: 'u', content: 1, timestamp: Date.now() };
  await inbox.append('u', entry);
  await inbox.append('u', entry);
  // Not JSON, but it reaches the encoder inside the transaction: msgpack refuses it.
  await t.rejects(inbox.append('u', { ...entry, content: 2n ** 70n }), /too large/);
  t.equal(await inbox.lastSeq('u'), 2, 'no seq consumed');
  t.equal(await inbox.takeDropped('u'), 0, 'nothing trimmed');
  t.same((await inbox.read('u', 0, 10)).map((e) => e.seq), [1, 2]);
  t.match(await inbox.append('u', entry), { seq: 3, epoch: /^[0-9a-z]{12}$/, dropped: 1 });
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
