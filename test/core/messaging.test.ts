import t from 'tap';
import type { AppendOptions, AppendResult, NewInboxEntry } from '../../src/engine/inbox.js';
import { MemoryInbox } from '../../src/engine/memory/inbox.js';
import { createCore } from '../helpers/core.js';
import { deferred } from '../helpers/fake-socket.js';

/**
 * A memory inbox whose appends become "durable" only when the test says so: the seq is
 * assigned (and onAssigned called) at once, the promise settles on release/fail.
 */
class HeldInbox extends MemoryInbox {
  readonly held: Array<ReturnType<typeof deferred<void>>> = [];

  override async append(userId: string, entry: NewInboxEntry, options?: AppendOptions): Promise<AppendResult> {
    const result = await super.append(userId, entry, options);
    const gate = deferred<void>();
    this.held.push(gate);
    await gate.promise;
    return result;
  }
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

t.test('a direct message reaches the recipient once its seq is assigned; the sender is answered once it is durable', async (t) => {
  const inbox = new HeldInbox({ maxPerUser: 100, ttlMs: 60_000 });
  const core = createCore({ inbox });
  const bob = await core.open('bob');
  let answered = false;
  const sending = core.messaging.direct('alice', 'bob', { text: 'hi' }).then((ack) => {
    answered = true;
    return ack;
  });
  await until(() => inbox.held.length === 1, 'the append');
  t.same(bob.socket.ofType('message').map((f) => [f.data.content, f.data.seq]), [[{ text: 'hi' }, 1]], 'delivered before the append is durable');
  t.notOk(answered, 'the sender is not answered yet');
  inbox.held[0]!.resolve();
  t.match(await sending, { status: 'delivered', seq: 1 });
});

t.test('an append that fails after the live delivery rejects the sender, and the next message takes a later seq', async (t) => {
  const inbox = new HeldInbox({ maxPerUser: 100, ttlMs: 60_000 });
  const core = createCore({ inbox });
  const bob = await core.open('bob');
  const first = core.messaging.direct('alice', 'bob', 'one');
  await until(() => inbox.held.length === 1, 'the first append');
  inbox.held[0]!.reject(new Error('disk full'));
  await t.rejects(first, /disk full/, 'the sender learns it was not stored');
  const second = core.messaging.direct('alice', 'bob', 'two');
  await until(() => inbox.held.length === 2, 'the second append');
  inbox.held[1]!.resolve();
  t.match(await second, { status: 'delivered', seq: 2 });
  t.same(bob.socket.ofType('message').map((f) => f.data.seq), [1, 2], 'seqs the recipient saw only increase');
});

t.test('messages to one recipient do not wait for each other\'s writes, and are delivered and answered in seq order', async (t) => {
  const inbox = new HeldInbox({ maxPerUser: 100, ttlMs: 60_000 });
  const core = createCore({ inbox });
  const bob = await core.open('bob');
  const sends = [1, 2, 3].map((n) => core.messaging.direct('alice', 'bob', n));
  // All three appends started while none of them is durable (each used to wait for the one before).
  await until(() => inbox.held.length === 3, 'three appends in flight at once');
  t.same(bob.socket.ofType('message').map((f) => [f.data.content, f.data.seq]), [[1, 1], [2, 2], [3, 3]], 'delivered live, in seq order');
  // Writes may finish in any order; each sender is answered with its own seq.
  for (const i of [2, 0, 1]) inbox.held[i]!.resolve();
  t.same((await Promise.all(sends)).map((a) => [a.seq, a.status]), [[1, 'delivered'], [2, 'delivered'], [3, 'delivered']]);
});

t.test('a replay waits for the writes of messages already published to the user', async (t) => {
  const inbox = new HeldInbox({ maxPerUser: 100, ttlMs: 60_000 });
  const core = createCore({ inbox });
  const sending = core.messaging.direct('alice', 'bob', 'while you were away');
  await until(() => inbox.held.length === 1, 'the append');
  // bob connects while the message is still being written: the replay must not read before it is.
  const bob = await core.open('bob', { waitReady: false });
  let replayed = false;
  const ready = bob.conn.ready.then(() => (replayed = true));
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  t.notOk(replayed, 'the replay is still waiting');
  t.same(bob.socket.ofType('message'), [], 'nothing replayed before the write settles');
  inbox.held[0]!.resolve();
  await ready;
  t.same(bob.socket.ofType('message').map((f) => [f.data.content, f.data.seq, f.data.offline]), [['while you were away', 1, true]], 'replayed once written');
  t.match(await sending, { seq: 1, status: 'stored' });
});

t.test('shutdown\'s idle() waits for the writes a delivery started', async (t) => {
  const inbox = new HeldInbox({ maxPerUser: 100, ttlMs: 60_000 });
  const core = createCore({ inbox });
  await core.open('bob');
  const sending = core.messaging.direct('alice', 'bob', 'last words');
  await until(() => inbox.held.length === 1, 'the append');
  let idle = false;
  const idling = core.messaging.idle().then(() => (idle = true));
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  t.notOk(idle, 'not idle while the append is being written');
  inbox.held[0]!.resolve();
  await idling;
  t.match(await sending, { seq: 1 });
});
