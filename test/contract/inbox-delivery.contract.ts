/**
 * The delivery-guarantee part of the Inbox contract (issue 9): epochs, epoch-checked
 * acks, de-duplication of resends and TTL loss reported by takeDropped. Declared by
 * inboxContract, so every engine runs it with the same fixtures.
 */
import type { ContractTest } from './inbox.contract.js';
import { EPOCH, T0, mids, seqs } from './inbox.contract.js';

export function deliveryContract(test: ContractTest): void {
  test('epoch: one per user, 12 of [0-9a-z], the same on every append, read and ack', {}, async (t, c) => {
    const { inbox } = c;
    t.type(inbox.publishesLive, 'boolean');
    const first = await inbox.append('u', c.entry('u', 1));
    t.match(first.epoch, EPOCH);
    const results = [first, ...(await Promise.all([2, 3, 4].map((n) => inbox.append('u', c.entry('u', n)))))];
    t.same(results.map((r) => r.epoch), Array(4).fill(first.epoch), 'stable across appends');
    t.equal(results.filter((r) => r.duplicate !== undefined).length, 0, 'no duplicate without dedup');
    t.same((await inbox.read('u', 0, 10)).map((e) => e.epoch), Array(4).fill(first.epoch), 'entries carry it');
    t.same((await inbox.ack('u', 2)).map((e) => e.epoch), Array(2).fill(first.epoch), 'acked entries carry it');
    await inbox.ack('u', 4);
    t.equal((await inbox.append('u', c.entry('u', 5))).epoch, first.epoch, 'an emptied inbox keeps its epoch and counter');
    const other = await inbox.append('v', c.entry('v', 1));
    t.match(other.epoch, EPOCH);
  });

  test('epoch: a lost counter starts again at 1 in a new epoch', {}, async (t, c) => {
    if (!c.fx.lose) {
      t.plan(0, 'engine never loses its counters');
      return;
    }
    const before = await c.inbox.append('u', c.entry('u', 1));
    await c.inbox.append('u', c.entry('u', 2));
    await c.lose();
    t.equal(await c.inbox.lastSeq('u'), 0);
    const after = await c.inbox.append('u', c.entry('u', 3));
    t.equal(after.seq, 1, 'the sequence restarted');
    t.match(after.epoch, EPOCH);
    t.not(after.epoch, before.epoch, 'so the epoch is new');
    t.same(await c.inbox.ack('u', 5, before.epoch), [], 'an ack from the old epoch removes nothing');
    t.same(seqs(await c.inbox.read('u', 0, 10)), [1]);
    t.equal((await c.inbox.append('u', c.entry('u', 4))).epoch, after.epoch, 'and the new epoch is stable');
  });

  test('ack with an epoch: only the current one removes anything', {}, async (t, c) => {
    const { inbox } = c;
    const { epoch } = await inbox.append('u', c.entry('u', 1));
    for (let n = 2; n <= 4; n++) await inbox.append('u', c.entry('u', n));
    const stale = epoch === 'zzzzzzzzzzzz' ? 'yyyyyyyyyyyy' : 'zzzzzzzzzzzz';
    t.same(await inbox.ack('u', 4, stale), [], 'another epoch removes nothing');
    t.same(await inbox.ack('nobody', 4, stale), [], 'nor for an unknown user');
    t.same(seqs(await inbox.read('u', 0, 10)), [1, 2, 3, 4]);
    t.same(seqs(await inbox.ack('u', 2, epoch)), [1, 2], 'the current epoch works');
    t.same(seqs(await inbox.ack('u', 3)), [3], 'no epoch: the current one');
    await t.rejects(inbox.ack('u', 4, 5 as unknown as string), /epoch/);
    t.same(seqs(await inbox.read('u', 0, 10)), [4], 'a refused ack changed nothing');
  });

  test('dedup: a resend under the same key within ttl is answered with the original and not appended', {}, async (t, c) => {
    const { inbox } = c;
    const dedup = { key: 'alice:c1', ttlMs: 1000 };
    const first = await inbox.append('u', c.entry('u', 1), { dedup });
    t.match(first, { seq: 1, epoch: EPOCH, dropped: 0 });
    t.equal(first.duplicate, undefined, 'a miss is not a duplicate');
    c.now = T0 + 400;
    const again = await inbox.append('u', c.entry('u', 2), { dedup });
    t.same(again, { seq: 1, epoch: first.epoch, dropped: 0, duplicate: { mid: 'm1', timestamp: T0 } }, 'the original answer');
    t.same(mids(await inbox.read('u', 0, 10)), ['m1'], 'one copy stored');
    t.equal(await inbox.lastSeq('u'), 1, 'no seq used');
    t.match(await inbox.append('u', c.entry('u', 3), { dedup: { key: 'alice:c2', ttlMs: 1000 } }), { seq: 2 }, 'another key is appended');
    t.match(await inbox.append('v', c.entry('v', 4), { dedup }), { seq: 1 }, 'keys are per user');
    t.match(await inbox.append('u', c.entry('u', 5)), { seq: 3 }, 'no dedup option: always appended');
    await inbox.ack('u', 3);
    c.now = T0 + 1000;
    t.match(await inbox.append('u', c.entry('u', 6), { dedup }), { seq: 1, duplicate: { mid: 'm1' } },
      'the record outlives the acked entry and holds for exactly ttlMs');
    c.now = T0 + 1001;
    const fresh = await inbox.append('u', c.entry('u', 7), { dedup });
    t.match(fresh, { seq: 4, epoch: first.epoch, dropped: 0 }, 'after ttlMs the key is free again');
    t.equal(fresh.duplicate, undefined);
    t.same(await inbox.append('u', c.entry('u', 8), { dedup }), { seq: 4, epoch: first.epoch, dropped: 0, duplicate: { mid: 'm7', timestamp: T0 + 1001 } },
      'and now answers with the new entry');
    c.now = T0 + 100_000;
    t.equal(await inbox.sweep(), 0, 'sweeping records counts no entry as dropped');
    const late = await inbox.append('u', c.entry('u', 9), { dedup });
    t.match(late, { seq: 5, dropped: 0 }, 'an expired record is gone');
    t.equal(late.duplicate, undefined);
  });

  test('dedup: concurrent resends append once', { maxPerUser: 3 }, async (t, c) => {
    const { inbox } = c;
    await inbox.append('u', c.entry('u', 0));
    await inbox.append('u', c.entry('u', 1));
    await inbox.append('u', c.entry('u', 2));
    const dedup = { key: 'k', ttlMs: 60_000 };
    const results = await Promise.all([3, 4, 5, 6, 7].map((n) => inbox.append('u', c.entry('u', n), { dedup })));
    t.same(results.map((r) => r.seq), [4, 4, 4, 4, 4]);
    t.same(results.map((r) => r.dropped), [1, 0, 0, 0, 0], 'only the real append trimmed');
    t.same(results.map((r) => r.duplicate?.mid), [undefined, 'm3', 'm3', 'm3', 'm3']);
    t.same(mids(await inbox.read('u', 0, 10)), ['m1', 'm2', 'm3']);
    t.equal(await inbox.takeDropped('u'), 1);
  });

  test('dedup and live: bad options reject clearly and change nothing', {}, async (t, c) => {
    const { inbox } = c;
    const e = c.entry('u', 1);
    await t.rejects(inbox.append('u', e, { dedup: { key: '', ttlMs: 10 } }), /dedup\.key/);
    await t.rejects(inbox.append('u', e, { dedup: { key: 'k'.repeat(300), ttlMs: 10 } }), /dedup\.key/);
    await t.rejects(inbox.append('u', e, { dedup: { key: 'k', ttlMs: 0 } }), /dedup\.ttlMs/);
    await t.rejects(inbox.append('u', e, { dedup: { key: 'k', ttlMs: 1.5 } }), /dedup\.ttlMs/);
    await t.rejects(inbox.append('u', e, null as never), /options/);
    const live = { topic: 'u:u', payload: new Uint8Array(20), epochAt: 0, seqAt: 14, origin: 'node-1' };
    await t.rejects(inbox.append('u', e, { live: { ...live, epochAt: 10 } }), /epochAt/);
    await t.rejects(inbox.append('u', e, { live: { ...live, seqAt: 17 } }), /seqAt/);
    await t.rejects(inbox.append('u', e, { live: { ...live, seqAt: 8 } }), /overlap/);
    await t.rejects(inbox.append('u', e, { live: { ...live, topic: '' } }), /topic/);
    await t.rejects(inbox.append('u', e, { live: { ...live, payload: [1] as never } }), /payload/);
    t.equal(await inbox.lastSeq('u'), 0, 'no seq used');
  });

  test('TTL loss is reported by takeDropped without waiting for a sweep', { ttlMs: 1000 }, async (t, c) => {
    const { inbox } = c;
    await inbox.append('u', c.entry('u', 1));
    await inbox.append('u', c.entry('u', 2));
    c.now = T0 + 600;
    await inbox.append('u', c.entry('u', 3));
    t.equal(await inbox.takeDropped('u'), 0, 'nothing expired yet');
    c.now = T0 + 1001;
    t.equal(await inbox.takeDropped('u'), 2, 'the two expired entries are reported');
    t.equal(await inbox.takeDropped('u'), 0, 'once');
    t.same(mids(await inbox.read('u', 0, 10)), ['m3'], 'the unexpired one stays');
    t.equal(await inbox.sweep(), 0, 'already removed');
    c.now = T0 + 1700;
    t.same(await inbox.ack('u', 3), [], 'acking an expired entry returns nothing');
    t.equal(await inbox.takeDropped('u'), 1, 'ack counted it');
    t.equal(await inbox.takeDropped('nobody'), 0);
    await inbox.append('w', c.entry('w', 1, { timestamp: T0 }), { dedup: { key: 'k', ttlMs: 60_000 } });
    t.equal(await inbox.takeDropped('w'), 1, 'an entry stamped long ago expires at once');
  });

  test('onAssigned: called once, synchronously, with the seq and epoch the append resolves with; never for a duplicate', {}, async (t, c) => {
    const { inbox } = c;
    const calls: Array<[number, string]> = [];
    const onAssigned = (seq: number, epoch: string): void => {
      calls.push([seq, epoch]);
    };
    const dedup = { key: 'k', ttlMs: 60_000 };
    const pending = inbox.append('u', c.entry('u', 1), { dedup, onAssigned });
    const expected = inbox.publishesLive ? 0 : 1;
    t.equal(calls.length, expected, inbox.publishesLive ? 'an engine that publishes live does not call it' : 'called before append returned');
    const first = await pending;
    if (!inbox.publishesLive) t.same(calls, [[first.seq, first.epoch]]);
    const again = await inbox.append('u', c.entry('u', 2), { dedup, onAssigned });
    t.ok(again.duplicate, 'the resend is a duplicate');
    t.equal(calls.length, expected, 'not called for the duplicate');
    await t.rejects(inbox.append('u', c.entry('u', 3), { onAssigned: 'no' as never }), /onAssigned/);
    t.equal(calls.length, expected, 'not called for a refused append');
  });

  test('a resend issued in the same turn as its original is answered as its duplicate', {}, async (t, c) => {
    const { inbox } = c;
    const dedup = { key: 'k', ttlMs: 60_000 };
    const [first, second] = await Promise.all([
      inbox.append('u', c.entry('u', 1), { dedup }),
      inbox.append('u', c.entry('u', 2), { dedup }),
    ]);
    t.equal(first.duplicate, undefined);
    t.match(second, { seq: first.seq, epoch: first.epoch, dropped: 0, duplicate: { mid: 'm1', timestamp: T0 } });
    t.same(mids(await inbox.read('u', 0, 10)), ['m1'], 'one entry');
  });

  test('appends and acks of several users issued together take effect in call order', {}, async (t, c) => {
    const { inbox } = c;
    const [, , , ackU1, , ackU3, ackV, fourth] = await Promise.all([
      inbox.append('u', c.entry('u', 1)),
      inbox.append('u', c.entry('u', 2)),
      inbox.append('u', c.entry('u', 3)),
      inbox.ack('u', 1),
      inbox.append('v', c.entry('v', 4)),
      inbox.ack('u', 3),
      inbox.ack('v', 1),
      inbox.append('u', c.entry('u', 5)),
    ]);
    t.same(seqs(ackU1), [1]);
    t.same(seqs(ackU3), [2, 3], 'the second ack removes what the first left');
    t.same(mids(ackV), ['m4']);
    t.equal(fourth.seq, 4);
    t.same(seqs(await inbox.read('u', 0, 10)), [4]);
    t.same(await inbox.read('v', 0, 10), []);
  });

}
