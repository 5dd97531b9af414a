import type tap from 'tap';
import type { Inbox, InboxEntry, InboxOptions, NewInboxEntry } from '../../src/engine/inbox.js';
import { deliveryContract } from './inbox-delivery.contract.js';

/** A tap test object as handed to a subtest callback. */
export type TapTest = Parameters<Parameters<typeof tap.test>[0]>[0];

export interface InboxFixture {
  /** An empty inbox, built with the options and clock given to the factory. */
  inbox: Inbox;
  /**
   * Durable engines only: closes the current inbox (which must flush it) and opens a
   * new one over the same storage, with the same options and clock, as a process
   * restart would. The contract never touches the old inbox afterwards.
   */
  reopen?: () => Promise<Inbox>;
  /**
   * Engines whose counters can be lost (memory: a new process; Redis: a restart
   * without persistence): loses every user's counter and entries the way that happens
   * in production and returns the inbox to use from then on.
   */
  lose?: () => Promise<Inbox>;
  /** Closes whichever inbox is open and removes every trace of the fixture. */
  cleanup: () => Promise<void>;
}

/**
 * Builds a fresh, empty inbox. `clock` is the engine's notion of "now" (for TTL);
 * the contract moves it forward by hand. Must reject for invalid options.
 */
export type InboxFactory = (opts: InboxOptions, clock: () => number) => Promise<InboxFixture>;

/** Milliseconds since the epoch: any realistic value works; a fixed one keeps failures readable. */
export const T0 = 1_700_000_000_000;
const DEFAULTS: InboxOptions = { maxPerUser: 1000, ttlMs: 3_600_000 };

export interface Ctx {
  /** The inbox under test; replaced by reopen(). */
  inbox: Inbox;
  fx: InboxFixture;
  /** The injected clock's current value; assign to move time. */
  now: number;
  /** A new entry stamped with the current clock: mid `m<n>`, content `{ n }`. */
  entry(to: string, n: number, extra?: Partial<NewInboxEntry>): NewInboxEntry;
  reopen(): Promise<void>;
  lose(): Promise<void>;
}

/** What every epoch looks like. */
export const EPOCH = /^[0-9a-z]{12}$/;

export const seqs = (entries: InboxEntry[]): number[] => entries.map((e) => e.seq);
export const mids = (entries: InboxEntry[]): string[] => entries.map((e) => e.mid);

/** Declares one contract test: a fresh fixture built with `opts` over the defaults, a context, a body. */
export type ContractTest = (title: string, opts: Partial<InboxOptions>, body: (t: TapTest, c: Ctx) => Promise<void>) => void;

/**
 * The one Inbox contract, engine-agnostic: every engine (memory, LMDB, Redis) runs it
 * with its own factory. Durability checks run only when the fixture has `reopen`.
 */
export function inboxContract(t: TapTest, name: string, factory: InboxFactory): void {
  const test: ContractTest = (title, opts, body) => {
    void t.test(`${name}: ${title}`, async (t) => {
      const c = {} as Ctx;
      c.now = T0;
      const fx = await factory({ ...DEFAULTS, ...opts }, () => c.now);
      t.teardown(() => fx.cleanup());
      c.fx = fx;
      c.inbox = fx.inbox;
      c.entry = (to, n, extra = {}) => ({ mid: `m${n}`, from: 'sender', to, content: { n }, timestamp: c.now, ...extra });
      c.reopen = async () => {
        if (!fx.reopen) throw new Error('reopen() called on a non-durable fixture');
        c.inbox = await fx.reopen();
      };
      c.lose = async () => {
        if (!fx.lose) throw new Error('lose() called on a fixture that cannot lose its counters');
        c.inbox = await fx.lose();
      };
      await body(t, c);
    });
  };

  test('an unknown user has nothing', {}, async (t, { inbox }) => {
    t.equal(await inbox.lastSeq('nobody'), 0);
    t.same(await inbox.read('nobody', 0, 10), []);
    t.same(await inbox.ack('nobody', 10), []);
    t.equal(await inbox.takeDropped('nobody'), 0);
    t.equal(await inbox.sweep(), 0);
  });

  test('seq starts at 1, increases by one per append, independently per user', {}, async (t, c) => {
    const { inbox } = c;
    t.match(await inbox.append('alice', c.entry('alice', 1)), { seq: 1, epoch: EPOCH, dropped: 0 });
    t.match(await inbox.append('alice', c.entry('alice', 2)), { seq: 2, epoch: EPOCH, dropped: 0 });
    t.match(await inbox.append('bob', c.entry('bob', 1)), { seq: 1, epoch: EPOCH, dropped: 0 }, 'bob has his own counter');
    t.match(await inbox.append('alice', c.entry('alice', 3)), { seq: 3, epoch: EPOCH, dropped: 0 });
    t.equal(await inbox.lastSeq('alice'), 3);
    t.equal(await inbox.lastSeq('bob'), 1);
  });

  test('read returns whole entries after `after`, in seq order, at most `limit`', {}, async (t, c) => {
    const { inbox } = c;
    let epoch = '';
    for (let n = 1; n <= 5; n++) {
      c.now = T0 + n;
      ({ epoch } = await inbox.append('u', c.entry('u', n, { from: `s${n}` })));
    }
    const all = await inbox.read('u', 0, 100);
    t.same(seqs(all), [1, 2, 3, 4, 5]);
    t.strictSame(all[2], { seq: 3, epoch, mid: 'm3', from: 's3', to: 'u', content: { n: 3 }, timestamp: T0 + 3 });
    t.same(seqs(await inbox.read('u', 2, 2)), [3, 4], 'after is exclusive, limit bounds');
    t.same(seqs(await inbox.read('u', 4, 100)), [5]);
    t.same(await inbox.read('u', 5, 100), [], 'nothing after the last seq');
    t.same(await inbox.read('u', 99, 100), [], 'after beyond the last seq');
    t.same(await inbox.read('u', 0, 0), [], 'limit 0');
    t.same(seqs(await inbox.read('u', 0, 1)), [1]);
    t.same(seqs(await inbox.read('u', 0, 100)), [1, 2, 3, 4, 5], 'reading removes nothing');
  });

  test('ack removes up to upTo, returns the removed entries in order, is idempotent and clamps', {}, async (t, c) => {
    const { inbox } = c;
    let epoch = '';
    for (let n = 1; n <= 5; n++) ({ epoch } = await inbox.append('u', c.entry('u', n)));
    await inbox.append('other', c.entry('other', 1));
    t.same(await inbox.ack('u', 0), [], 'ack 0 removes nothing');
    const first = await inbox.ack('u', 2);
    t.same(seqs(first), [1, 2]);
    t.strictSame(first[0], { seq: 1, epoch, mid: 'm1', from: 'sender', to: 'u', content: { n: 1 }, timestamp: T0 });
    t.same(seqs(await inbox.read('u', 0, 100)), [3, 4, 5]);
    t.same(await inbox.ack('u', 2), [], 'the same ack again');
    t.same(await inbox.ack('u', 1), [], 'an older ack');
    t.same(seqs(await inbox.ack('u', 99)), [3, 4, 5], 'upTo beyond the last seq is clamped');
    t.same(await inbox.read('u', 0, 100), []);
    t.equal(await inbox.lastSeq('u'), 5, 'lastSeq survives acks');
    t.match(await inbox.append('u', c.entry('u', 6)), { seq: 6, epoch: EPOCH, dropped: 0 }, 'seqs are not reused after everything is acked');
    t.same(seqs(await inbox.read('other', 0, 100)), [1], 'other users are untouched');
    t.equal(await inbox.takeDropped('u'), 0, 'acked entries are not dropped ones');
  });

  test('100 concurrent appends get seqs 1..100 in call order', {}, async (t, c) => {
    const { inbox } = c;
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => inbox.append('u', c.entry('u', i + 1))));
    t.same(results.map((r) => r.seq), Array.from({ length: 100 }, (_, i) => i + 1));
    t.same(mids(await inbox.read('u', 0, 1000)), Array.from({ length: 100 }, (_, i) => `m${i + 1}`));
    t.equal(await inbox.lastSeq('u'), 100);
  });

  test('concurrent calls on two users interleave without mixing', {}, async (t, c) => {
    const { inbox } = c;
    const calls = Array.from({ length: 40 }, (_, i) => inbox.append(i % 2 ? 'b' : 'a', c.entry('x', i)));
    const results = await Promise.all(calls);
    t.same(results.filter((_, i) => i % 2 === 0).map((r) => r.seq), Array.from({ length: 20 }, (_, i) => i + 1));
    t.same(results.filter((_, i) => i % 2 === 1).map((r) => r.seq), Array.from({ length: 20 }, (_, i) => i + 1));
    t.same(mids(await inbox.read('b', 0, 100)), Array.from({ length: 20 }, (_, i) => `m${2 * i + 1}`));
  });

  test('mutations issued together take effect in call order', {}, async (t, c) => {
    const { inbox } = c;
    const [, , , acked, fourth] = await Promise.all([
      inbox.append('u', c.entry('u', 1)),
      inbox.append('u', c.entry('u', 2)),
      inbox.append('u', c.entry('u', 3)),
      inbox.ack('u', 2),
      inbox.append('u', c.entry('u', 4)),
    ]);
    t.same(seqs(acked), [1, 2], 'the ack saw the three appends before it, not the one after');
    t.match(fourth, { seq: 4, epoch: EPOCH, dropped: 0 });
    t.same(seqs(await inbox.read('u', 0, 100)), [3, 4]);
  });

  test('appends past maxPerUser drop the oldest and count them', { maxPerUser: 3 }, async (t, c) => {
    const { inbox } = c;
    const dropped: number[] = [];
    for (let n = 1; n <= 5; n++) dropped.push((await inbox.append('u', c.entry('u', n))).dropped);
    t.same(dropped, [0, 0, 0, 1, 1]);
    t.same(seqs(await inbox.read('u', 0, 100)), [3, 4, 5]);
    t.equal(await inbox.takeDropped('other'), 0, 'other users have no loss');
    t.equal(await inbox.takeDropped('u'), 2);
    t.equal(await inbox.takeDropped('u'), 0, 'taking resets the count');
    t.equal(await inbox.lastSeq('u'), 5);
    // Acked entries make room: no loss while the user keeps up.
    await inbox.ack('u', 4);
    t.match(await inbox.append('u', c.entry('u', 6)), { seq: 6, epoch: EPOCH, dropped: 0 });
    t.match(await inbox.append('u', c.entry('u', 7)), { seq: 7, epoch: EPOCH, dropped: 0 });
    t.match(await inbox.append('u', c.entry('u', 8)), { seq: 8, epoch: EPOCH, dropped: 1 });
    t.same(seqs(await inbox.read('u', 0, 100)), [6, 7, 8]);
    t.equal(await inbox.takeDropped('u'), 1);
  });

  test('concurrent appends past maxPerUser keep the newest', { maxPerUser: 3 }, async (t, c) => {
    const { inbox } = c;
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => inbox.append('u', c.entry('u', i + 1))));
    t.same(results.map((r) => r.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    t.equal(results.reduce((sum, r) => sum + r.dropped, 0), 7);
    t.same(mids(await inbox.read('u', 0, 100)), ['m8', 'm9', 'm10']);
    t.equal(await inbox.takeDropped('u'), 7);
  });

  test('TTL: expired entries are not read; sweep removes them and counts them as dropped', { ttlMs: 1000 }, async (t, c) => {
    const { inbox } = c;
    await inbox.append('u', c.entry('u', 1)); // stamped T0
    c.now = T0 + 500;
    await inbox.append('u', c.entry('u', 2)); // stamped T0 + 500
    await inbox.append('v', c.entry('v', 1));
    c.now = T0 + 1000;
    t.same(seqs(await inbox.read('u', 0, 100)), [1, 2], 'exactly ttlMs old is not expired yet');
    c.now = T0 + 1001;
    t.same(seqs(await inbox.read('u', 0, 100)), [2], 'older than ttlMs is not read');
    t.same(seqs(await inbox.read('u', 0, 1)), [2], 'limit counts only unexpired entries');
    t.equal(await inbox.lastSeq('u'), 2);
    t.equal(await inbox.sweep(), 1, 'sweep uses the clock by default');
    t.equal(await inbox.takeDropped('u'), 1);
    t.equal(await inbox.takeDropped('v'), 0);
    t.equal(await inbox.sweep(), 0, 'nothing left to sweep');
    t.equal(await inbox.sweep(T0 + 10_000), 2, 'sweep(now) takes an explicit time');
    t.equal(await inbox.takeDropped('u'), 1);
    t.equal(await inbox.takeDropped('v'), 1);
    t.same(await inbox.read('u', 0, 100), []);
    c.now = T0 + 20_000;
    t.match(await inbox.append('u', c.entry('u', 3)), { seq: 3, epoch: EPOCH, dropped: 0 }, 'seqs continue after expiry');
    t.same(seqs(await inbox.read('u', 0, 100)), [3]);
  });

  test('TTL: ack removes expired entries without returning them and counts them', { ttlMs: 1000 }, async (t, c) => {
    const { inbox } = c;
    await inbox.append('u', c.entry('u', 1));
    c.now = T0 + 800;
    await inbox.append('u', c.entry('u', 2));
    c.now = T0 + 1500;
    t.same(seqs(await inbox.ack('u', 2)), [2], 'an expired entry was never delivered: no receipt');
    t.equal(await inbox.takeDropped('u'), 1);
    t.equal(await inbox.sweep(), 0, 'ack already removed it');
  });

  test('content and fields round-trip exactly', {}, async (t, c) => {
    const { inbox } = c;
    const contents: unknown[] = [
      { nested: { list: [1, { deep: null }, 'x'], flag: true, empty: {}, none: [] }, n: -12.5 },
      'héllo wörld ✓ 日本語 😀 \u0000 "quoted" \\ back',
      null,
      0,
      -1,
      3.14159,
      Number.MAX_SAFE_INTEGER,
      -(2 ** 31),
      1e300,
      true,
      false,
      '',
      [],
      {},
      [1, 'two', null, { three: 3 }],
    ];
    let epoch = '';
    for (const [i, content] of contents.entries()) {
      ({ epoch } = await inbox.append('u', { mid: `mid-${i}-ü`, from: 'from 😀', to: 'to ü', content, timestamp: T0 + i }));
    }
    const read = await inbox.read('u', 0, 100);
    t.equal(read.length, contents.length);
    for (const [i, content] of contents.entries()) {
      t.strictSame(read[i], { seq: i + 1, epoch, mid: `mid-${i}-ü`, from: 'from 😀', to: 'to ü', content, timestamp: T0 + i }, `content #${i}`);
    }
  });

  test('content is stored, not referenced', {}, async (t, c) => {
    const { inbox } = c;
    const content = { list: [1, 2], text: 'a' };
    await inbox.append('u', { ...c.entry('u', 1), content });
    content.list.push(3);
    content.text = 'changed';
    t.strictSame((await inbox.read('u', 0, 1))[0]?.content, { list: [1, 2], text: 'a' });
  });

  test('user ids with separators, prefixes and unicode do not collide', {}, async (t, c) => {
    const { inbox } = c;
    const ids = ['a', 'a:b', 'a:', ':a', 'ab', 'a b', 'a\u0000b', 'é', 'e\u0301', '😀', 'u:1:2', 'u:1'];
    for (const [i, id] of ids.entries()) {
      for (let n = 1; n <= i + 1; n++) await inbox.append(id, { ...c.entry(id, n), content: { id, n } });
    }
    for (const [i, id] of ids.entries()) {
      t.equal(await inbox.lastSeq(id), i + 1, `lastSeq of ${JSON.stringify(id)}`);
      const entries = await inbox.read(id, 0, 100);
      t.same(entries.map((e) => e.content), Array.from({ length: i + 1 }, (_, n) => ({ id, n: n + 1 })), `entries of ${JSON.stringify(id)}`);
    }
    t.equal((await inbox.ack('a', 99)).length, 1);
    t.equal((await inbox.ack('u:1', 99)).length, 12);
    t.equal((await inbox.read('a:b', 0, 100)).length, 2, 'acking "a" leaves "a:b" alone');
    t.equal((await inbox.read('u:1:2', 0, 100)).length, 11, 'acking "u:1" leaves "u:1:2" alone');
  });

  test('invalid arguments reject clearly and change nothing', {}, async (t, c) => {
    const { inbox } = c;
    const e = c.entry('u', 1);
    await t.rejects(inbox.append('', e), /userId/);
    await t.rejects(inbox.append(42 as unknown as string, e), /userId/);
    await t.rejects(inbox.append('x'.repeat(600), e), /userId/);
    await t.rejects(inbox.append('u', { ...e, mid: 5 as unknown as string }), /mid/);
    await t.rejects(inbox.append('u', { ...e, timestamp: Number.NaN }), /timestamp/);
    await t.rejects(inbox.append('u', null as unknown as NewInboxEntry), /entry/);
    await t.rejects(inbox.append('u', { ...e, content: undefined }), /content/);
    await t.rejects(inbox.read('u', -1, 10), /after/);
    await t.rejects(inbox.read('u', 0, 1.5), /limit/);
    await t.rejects(inbox.ack('u', Number.NaN), /upTo/);
    await t.rejects(inbox.takeDropped(''), /userId/);
    await t.rejects(inbox.sweep(Number.NaN), /sweep/);
    t.match(await inbox.append('u', e), { seq: 1, epoch: EPOCH, dropped: 0 }, 'failed appends used no seq');
  });

  test('invalid options are refused', {}, async (t, c) => {
    await t.rejects(factory({ maxPerUser: 0, ttlMs: 1000 }, () => c.now), /maxPerUser/);
    await t.rejects(factory({ maxPerUser: 1.5, ttlMs: 1000 }, () => c.now), /maxPerUser/);
    await t.rejects(factory({ maxPerUser: 10, ttlMs: 0 }, () => c.now), /ttlMs/);
    await t.rejects(factory({ maxPerUser: 10, ttlMs: Number.NaN }, () => c.now), /ttlMs/);
  });

  test('calls after close reject; close is idempotent', {}, async (t, c) => {
    const { inbox } = c;
    await inbox.append('u', c.entry('u', 1));
    await inbox.close();
    await inbox.close();
    await t.rejects(inbox.append('u', c.entry('u', 2)), /closed/);
    await t.rejects(inbox.read('u', 0, 10), /closed/);
    await t.rejects(inbox.lastSeq('u'), /closed/);
  });

  deliveryContract(test);

  test('durable: entries, seq counters and dropped counts survive a reopen', { maxPerUser: 3, ttlMs: 1000 }, async (t, c) => {
    if (!c.fx.reopen) {
      t.plan(0, 'engine is not durable: nothing to check');
      return;
    }
    let epoch = '';
    for (let n = 1; n <= 3; n++) ({ epoch } = await c.inbox.append('u', c.entry('u', n, { content: { n, text: 'ü😀' } })));
    await c.inbox.append('dd', c.entry('dd', 1), { dedup: { key: 'k', ttlMs: 60_000 } });
    await c.inbox.ack('u', 1);
    for (let n = 1; n <= 5; n++) await c.inbox.append('full', c.entry('full', n));
    for (let n = 1; n <= 2; n++) await c.inbox.append('gone', c.entry('gone', n));
    await c.inbox.ack('gone', 2);
    const before = await c.inbox.read('u', 0, 100);

    await c.reopen();
    t.strictSame(await c.inbox.read('u', 0, 100), before, 'entries survive');
    t.same(seqs(before), [2, 3], 'acked entries stay gone');
    t.same(seqs(await c.inbox.read('full', 0, 100)), [3, 4, 5]);
    t.same(await c.inbox.read('gone', 0, 100), []);
    t.equal(await c.inbox.lastSeq('u'), 3);
    t.same(before.map((e) => e.epoch), [epoch, epoch], 'the epoch survives');
    t.match(await c.inbox.append('dd', c.entry('dd', 2), { dedup: { key: 'k', ttlMs: 60_000 } }), { seq: 1, duplicate: { mid: 'm1' } },
      'de-duplication records survive');
    t.equal(await c.inbox.lastSeq('gone'), 2, 'the counter survives even with no entry left');
    t.match(await c.inbox.append('gone', c.entry('gone', 3)), { seq: 3, epoch: EPOCH, dropped: 0 }, 'and continues');
    t.match(await c.inbox.append('u', c.entry('u', 4)), { seq: 4, epoch, dropped: 0 });
    t.equal(await c.inbox.takeDropped('full'), 2, 'dropped counts survive');
    t.same(seqs(await c.inbox.ack('u', 2)), [2]);

    await c.reopen();
    t.equal(await c.inbox.takeDropped('full'), 0, 'taking dropped counts is durable too');
    c.now = T0 + 5000;
    t.same(await c.inbox.read('u', 0, 100), [], 'expiry applies after reopen');
    t.equal(await c.inbox.sweep(), 7, 'the expiry index survives: u 3,4; full 3,4,5; gone 3; dd 1');
    t.equal(await c.inbox.takeDropped('u'), 2);

    await c.reopen();
    t.equal(await c.inbox.sweep(), 0, 'swept entries stay gone');
    t.equal(await c.inbox.lastSeq('u'), 4);
    t.match(await c.inbox.append('u', c.entry('u', 5)), { seq: 5, epoch, dropped: 0 });
  });
}
