import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { open } from 'lmdb';
import { MemoryPresenceStore } from '../../src/engine/memory/presence.js';
import { LmdbPresenceStore, PRESENCE_DB_NAME, SAVE_DELAY_MS, WRITE_CHUNK } from '../../src/engine/lmdb/presence.js';
import type { PresenceStore } from '../../src/engine/presence.js';
import { presenceContract } from './presence.contract.js';

const T0 = 1_700_000_000_000;

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'switchboard-presence-'));
}

presenceContract(t, 'memory', async () => {
  const store = new MemoryPresenceStore();
  return { store, cleanup: () => store.close() };
});

presenceContract(t, 'lmdb', async () => {
  const dir = await tempDir();
  let current: PresenceStore = await LmdbPresenceStore.open({ path: dir });
  return {
    store: current,
    reopen: async () => {
      await current.close();
      current = await LmdbPresenceStore.open({ path: dir });
      return current;
    },
    cleanup: async () => {
      await current.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

t.test('memory: calls after close reject, close is idempotent', async (t) => {
  const store = new MemoryPresenceStore();
  await store.connect('u', 'c', 'n', T0);
  await store.close();
  await store.close();
  await t.rejects(() => store.connect('u', 'c2', 'n', T0), /closed/);
  await t.rejects(() => store.get(['u']), /closed/);
});

t.test('lmdb: open rejects bad options', async (t) => {
  await t.rejects(() => LmdbPresenceStore.open({ path: '' }), TypeError);
  await t.rejects(() => LmdbPresenceStore.open(undefined as never), TypeError);
});

t.test('lmdb: shares its directory with another handle and sub-database', async (t) => {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // Another engine (the inbox) opens the same path on its own, before and after us.
  const other = open({ path: dir });
  const inbox = other.openDB<number, string>({ name: 'inbox-test' });
  await inbox.put('k', 1);

  const store = await LmdbPresenceStore.open({ path: dir });
  await store.connect('u', 'c', 'n', T0);
  await store.disconnect('u', 'c', T0 + 7, 1_000);
  await store.close();

  t.equal(inbox.get('k'), 1, 'closing the presence store leaves the other handle working');
  await inbox.put('k', 2);
  t.equal(inbox.get('k'), 2);
  t.same(other.openDB({ name: PRESENCE_DB_NAME }).get('u'), { lastSeen: T0 + 7, invisible: false },
    'the record is in its own sub-database, flushed by close');
  await other.close();
});

t.test('lmdb: { root } uses a shared environment and leaves it open', async (t) => {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const root = open({ path: dir });
  const store = await LmdbPresenceStore.open({ root });
  await store.connect('u', 'c', 'n', T0);
  await store.setStatus('u', 'invisible', T0 + 3);
  await store.close();
  await store.close();
  await t.rejects(() => store.get(['u']), /closed/, 'the store itself is closed');
  t.same(root.openDB({ name: PRESENCE_DB_NAME }).get('u'), { lastSeen: T0 + 3, invisible: true });

  const again = await LmdbPresenceStore.open({ root });
  t.same(await again.connect('u', 'c2', 'n', T0 + 10), { count: 1, evicted: [], cameOnline: true, status: 'invisible' });
  await again.close();
  await root.close();
});

t.test('lmdb: a malformed record is ignored, then repaired', async (t) => {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const root = open({ path: dir });
  await root.openDB({ name: PRESENCE_DB_NAME }).put('u', 'garbage');
  const store = await LmdbPresenceStore.open({ root });
  t.same((await store.get(['u'])).get('u'), { status: 'offline', connections: 0, online: false, lastSeen: 0 });
  t.same(await store.connect('u', 'c', 'n', T0), { count: 1, evicted: [], cameOnline: true, status: 'online' });
  await store.close();
  t.same(root.openDB({ name: PRESENCE_DB_NAME }).get('u'), { lastSeen: T0, invisible: false });
  await root.close();
});

t.test('lmdb: an over-long userId is a clear error', async (t) => {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const store = await LmdbPresenceStore.open({ path: dir });
  await t.rejects(() => store.connect('x'.repeat(5_000), 'c', 'n', T0), RangeError);
  await store.close();
});

t.test('lmdb: saves of one interval are written together, without a close', async (t) => {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const other = open({ path: dir });
  const raw = other.openDB({ name: PRESENCE_DB_NAME });
  const store = await LmdbPresenceStore.open({ path: dir });
  t.teardown(async () => {
    await store.close();
    await other.close();
  });
  for (let i = 0; i < 100; i++) await store.connect(`u${i}`, `c${i}`, 'n', T0 + i);
  await store.disconnect('u0', 'c0', T0 + 500, 1_000);
  t.equal((await store.get(['u0'])).get('u0')?.lastSeen, T0 + 500, 'seen by this process at once');
  // Written within SAVE_DELAY_MS by the store's own timer: wait for it, bounded.
  const deadline = Date.now() + SAVE_DELAY_MS + 10_000;
  while (raw.get('u99') === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.same(raw.get('u99'), { lastSeen: T0 + 99, invisible: false }, 'on disk without a close');
  t.same(raw.get('u0'), { lastSeen: T0 + 500, invisible: false }, 'the latest save of a user wins');
});

t.test('lmdb: a storm of saves is written in chunks, in order: a later save of a user wins over its earlier batch', async (t) => {
  const dir = await tempDir();
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const other = open({ path: dir });
  const raw = other.openDB({ name: PRESENCE_DB_NAME });
  t.teardown(() => other.close());
  const store = await LmdbPresenceStore.open({ path: dir });
  const users = 3 * WRITE_CHUNK + 7;
  for (let i = 0; i < users; i++) await store.connect(`s${i}`, `c${i}`, 'n', T0 + i);
  const last = `s${users - 1}`;
  // The storm's batch starts on the store's timer; as soon as its first chunk is on
  // disk, the last user (in its last chunk) leaves: that save goes into the next batch.
  const deadline = Date.now() + SAVE_DELAY_MS + 10_000;
  while (raw.get('s0') === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  t.ok(raw.get('s0'), 'the first chunk was written by the timer');
  await store.disconnect(last, `c${users - 1}`, T0 + 999_999, 0);
  await store.close();
  let missing = 0;
  for (let i = 0; i < users - 1; i++) if ((raw.get(`s${i}`) as { lastSeen?: number } | undefined)?.lastSeen !== T0 + i) missing += 1;
  t.equal(missing, 0, `all ${users} users of the storm are on disk with their own lastSeen`);
  t.same(raw.get(last), { lastSeen: T0 + 999_999, invisible: false }, 'the later save of the last user was not overwritten by the storm\'s last chunk');
});
