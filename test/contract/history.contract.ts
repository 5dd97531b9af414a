import type tap from 'tap';
import type { GroupHistory, HistoryEntry, NewHistoryEntry, RetentionLimits } from '../../src/engine/history.js';

type TapTest = Parameters<Parameters<typeof tap.test>[0]>[0];

export interface HistoryFixture {
  history: GroupHistory;
  /** Durable engines: close (flushing) and reopen over the same storage, as a restart would. */
  reopen?: () => Promise<GroupHistory>;
  /** Engines that can lose their store: empties it behind the engine's back (a wiped Redis, a deleted file). */
  wipe?: () => Promise<GroupHistory>;
  cleanup: () => Promise<void>;
}

/** Builds a fresh, empty history whose notion of "now" is `clock`. */
export type HistoryFactory = (clock: () => number) => Promise<HistoryFixture>;

const T0 = 1_700_000_000_000;
const LIMITS: RetentionLimits = { size: 1000, ttlMs: 3_600_000 };
const offsets = (entries: HistoryEntry[]): number[] => entries.map((e) => e.offset);
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

interface Ctx {
  history: GroupHistory;
  fx: HistoryFixture;
  now: number;
  entry(n: number, extra?: Partial<NewHistoryEntry>): NewHistoryEntry;
}

/** The one GroupHistory contract; every engine (memory, LMDB, Redis) runs it with its own factory. */
export function historyContract(t: TapTest, name: string, factory: HistoryFactory): void {
  const test = (title: string, body: (t: TapTest, c: Ctx) => Promise<void>): void => {
    void t.test(`${name}: ${title}`, async (t) => {
      const c = {} as Ctx;
      c.now = T0;
      const fx = await factory(() => c.now);
      t.teardown(() => fx.cleanup());
      c.fx = fx;
      c.history = fx.history;
      c.entry = (n, extra = {}) => ({ mid: `m${n}`, from: 'host', content: { n, text: `message ${n}` }, timestamp: c.now, ...extra });
      await body(t, c);
    });
  };

  test('an unknown group has no epoch, offset 0 and no entries', async (t, c) => {
    t.same(await c.history.read('g', 0, 10), { epoch: '', offset: 0, entries: [] });
    t.same(await c.history.page('g', undefined, 10), { epoch: '', offset: 0, entries: [] });
  });

  test('append assigns 1, 2, 3 in one epoch; read returns what follows an offset, in order', async (t, c) => {
    const results = [];
    for (let i = 1; i <= 5; i++) results.push(await c.history.append('g', c.entry(i), LIMITS));
    t.same(results.map((r) => r.offset), [1, 2, 3, 4, 5]);
    const epoch = results[0]!.epoch;
    t.ok(typeof epoch === 'string' && epoch.length > 0, 'a non-empty epoch');
    t.ok(results.every((r) => r.epoch === epoch), 'one epoch');
    const page = await c.history.read('g', 2, 10);
    t.equal(page.epoch, epoch);
    t.equal(page.offset, 5, 'the current top');
    t.same(offsets(page.entries), [3, 4, 5]);
    t.same(page.entries[0], { offset: 3, mid: 'm3', from: 'host', content: { n: 3, text: 'message 3' }, timestamp: T0 }, 'entries come back whole');
    t.same(offsets((await c.history.read('g', 0, 2)).entries), [1, 2], 'limit');
    t.same((await c.history.read('g', 5, 10)).entries, [], 'nothing after the top');
    t.same((await c.history.read('g', 0, 0)).entries, [], 'limit 0');
  });

  test('groups are independent', async (t, c) => {
    await c.history.append('a', c.entry(1), LIMITS);
    await c.history.append('a', c.entry(2), LIMITS);
    const b = await c.history.append('a:b', c.entry(3), LIMITS);
    t.equal(b.offset, 1, 'a group whose name extends another starts at 1');
    t.same(offsets((await c.history.read('a', 0, 10)).entries), [1, 2]);
  });

  test('concurrent appends get distinct increasing offsets in call order', async (t, c) => {
    const results = await Promise.all(range(1, 100).map((i) => c.history.append('g', c.entry(i), LIMITS)));
    t.same(results.map((r) => r.offset), range(1, 100));
    const all = await c.history.read('g', 0, 1000);
    t.same(all.entries.map((e) => e.mid), range(1, 100).map((i) => `m${i}`), 'offset order is call order');
  });

  test('size trims the oldest; offsets are never reused', async (t, c) => {
    const small = { size: 3, ttlMs: LIMITS.ttlMs };
    for (let i = 1; i <= 10; i++) await c.history.append('g', c.entry(i), small);
    const page = await c.history.read('g', 0, 100);
    t.same(offsets(page.entries), [8, 9, 10]);
    t.equal(page.offset, 10);
  });

  test('ttl: expired entries are not read, and sweep removes them', async (t, c) => {
    const short = { size: 100, ttlMs: 1000 };
    await c.history.append('g', c.entry(1), short);
    c.now += 600;
    await c.history.append('g', c.entry(2), short);
    c.now += 400;
    t.same(offsets((await c.history.read('g', 0, 10)).entries), [1, 2], 'exactly TTL old is still there');
    c.now += 1;
    t.same(offsets((await c.history.read('g', 0, 10)).entries), [2], 'past TTL it is gone');
    t.same(offsets((await c.history.page('g', undefined, 10)).entries), [2]);
    t.ok((await c.history.sweep(c.now)) >= 0, 'sweep runs');
    c.now += 1000;
    t.same((await c.history.read('g', 0, 10)).entries, [], 'all expired');
    await c.history.sweep(c.now);
    t.same((await c.history.read('g', 0, 10)).entries, []);
  });

  test('page walks backwards: newest first selection, returned oldest first', async (t, c) => {
    for (let i = 1; i <= 10; i++) await c.history.append('g', c.entry(i), LIMITS);
    const newest = await c.history.page('g', undefined, 3);
    t.same(offsets(newest.entries), [8, 9, 10]);
    t.equal(newest.offset, 10);
    t.same(offsets((await c.history.page('g', 8, 3)).entries), [5, 6, 7]);
    t.same(offsets((await c.history.page('g', 3, 10)).entries), [1, 2]);
    t.same((await c.history.page('g', 1, 10)).entries, []);
  });

  test('important is kept', async (t, c) => {
    await c.history.append('g', c.entry(1, { important: true }), LIMITS);
    t.equal((await c.history.read('g', 0, 1)).entries[0]!.important, true);
  });

  test('bad arguments are refused', async (t, c) => {
    await t.rejects(c.history.read('', 0, 1), { code: 'BAD_REQUEST' });
    await t.rejects(c.history.read('g', -1, 1), { code: 'BAD_REQUEST' });
    await t.rejects(c.history.read('g', 0, 1.5), { code: 'BAD_REQUEST' });
    await t.rejects(c.history.page('g', -3, 1), { code: 'BAD_REQUEST' });
    await t.rejects(c.history.append('g', { mid: 1 } as never, LIMITS), { code: 'BAD_REQUEST' });
    await t.rejects(c.history.append('g', c.entry(1), { size: 0, ttlMs: 1 }), RangeError);
  });

  test('durable engines keep entries, offsets and the epoch across a restart', async (t, c) => {
    if (c.fx.reopen === undefined) return;
    const first = await c.history.append('g', c.entry(1), LIMITS);
    await c.history.append('g', c.entry(2), LIMITS);
    c.history = await c.fx.reopen();
    const page = await c.history.read('g', 0, 10);
    t.equal(page.epoch, first.epoch, 'same epoch');
    t.same(offsets(page.entries), [1, 2]);
    t.same(await c.history.append('g', c.entry(3), LIMITS), { offset: 3, epoch: first.epoch }, 'counting goes on');
  });

  test('a lost store starts a new epoch', async (t, c) => {
    if (c.fx.wipe === undefined) return;
    const first = await c.history.append('g', c.entry(1), LIMITS);
    c.history = await c.fx.wipe();
    t.same((await c.history.read('g', 0, 10)).entries, []);
    const again = await c.history.append('g', c.entry(2), LIMITS);
    t.not(again.epoch, first.epoch, 'new epoch');
    t.equal(again.offset, 1, 'offsets restart within the new epoch');
  });

  test('close: later calls are refused', async (t, c) => {
    await c.history.close();
    await t.rejects(async () => c.history.read('g', 0, 1), { code: 'UNAVAILABLE' });
  });
}
