import t from 'tap';
import { embeddedEngines } from '../../src/engine/engines.js';
import { GatewayError } from '../../src/errors.js';
import { MemoryBroker } from '../../src/engine/memory/broker.js';
import { MemoryGroupHistory } from '../../src/engine/memory/history.js';
import { MemoryInbox } from '../../src/engine/memory/inbox.js';
import { MemoryPresenceStore } from '../../src/engine/memory/presence.js';
import { startGateway, tempDir } from '../helpers/gateway.js';
import { TestClient, type Frame } from '../helpers/client.js';
import { token } from '../helpers/tokens.js';

/** History and recovery over real sockets on one node. */

const CONFIG = {
  Groups: {
    Rules: [
      { Match: 'chat:*', Join: 'open', History: { Size: 1000, TTL: '1h' } },
      { Match: 'short:*', Join: 'open', History: { Size: 10, TTL: '1h' } },
      { Match: 'brief:*', Join: 'open', History: { Size: 100, TTL: '1s' } },
    ],
    Open: ['plain:*'],
    ImportantHistory: { Size: 5, TTL: '1h' },
  },
};

async function user(url: string, sub: string): Promise<TestClient> {
  return TestClient.connect(url, { token: await token({ sub }) });
}

/** A connected user already joined to `groups` (publishing needs membership under the default Publish: members). */
async function joinedUser(url: string, sub: string, ...groups: string[]): Promise<TestClient> {
  const c = await user(url, sub);
  for (const group of groups) await c.request({ type: 'join', data: { group } });
  return c;
}

const isGroup = (f: Frame) => f.type === 'group';

/** Collects group frames until `n` have arrived (or times out). */
async function groupFrames(c: TestClient, n: number, timeoutMs = 10_000): Promise<Frame[]> {
  const out: Frame[] = [];
  while (out.length < n) out.push(await c.next(isGroup, timeoutMs));
  return out;
}

t.test('a member misses 50 messages, rejoins with since: exactly those 50, in order, then live ones', async (t) => {
  const { url } = await startGateway(t, CONFIG);
  const sender = await joinedUser(url, 'sender', 'chat:1');
  let member = await user(url, 'member');
  const joined = await member.request({ type: 'join', data: { group: 'chat:1' } });
  t.equal(joined.data.offset, 0, 'the ack tells the position: nothing yet');
  t.equal(joined.data.epoch, '');
  const first = await sender.request({ type: 'group', data: { group: 'chat:1', content: { n: 0 } } });
  t.equal(first.data.offset, 1, 'the sender\'s ack carries the offset');
  t.type(first.data.epoch, 'string');
  const seen = await member.next(isGroup);
  t.equal(seen.data.offset, 1, 'group frames carry offset');
  t.equal(seen.data.epoch, first.data.epoch, 'and epoch');
  t.notOk('recovered' in seen.data, 'live frames are not flagged');
  await member.close();

  const missed = [];
  for (let i = 1; i <= 50; i++) missed.push(await sender.request({ type: 'group', data: { group: 'chat:1', content: { n: i } } }));
  t.same(missed.map((a) => a.data.offset), Array.from({ length: 50 }, (_, i) => i + 2));

  member = await user(url, 'member');
  const ack = await member.request({ type: 'join', data: { group: 'chat:1', since: { offset: 1, epoch: seen.data.epoch } } });
  t.equal(ack.type, 'ack');
  t.equal(ack.data.recovered, true);
  t.equal(ack.data.count, 50);
  t.equal(ack.data.offset, 51);
  t.equal(ack.data.epoch, first.data.epoch);
  const live = await sender.request({ type: 'group', data: { group: 'chat:1', content: { n: 51 } } });
  const frames = await groupFrames(member, 51);
  t.same(frames.slice(0, 50).map((f) => f.data.content.n), Array.from({ length: 50 }, (_, i) => i + 1), 'the 50 missed, in order');
  t.ok(frames.slice(0, 50).every((f) => f.data.recovered === true), 'flagged recovered');
  t.same(frames.slice(0, 50).map((f) => f.data.mid), missed.map((a) => a.data.mid), 'the very messages (same mids)');
  t.equal(frames[50]!.data.mid, live.data.mid, 'then the live one');
  t.notOk('recovered' in frames[50]!.data);
  await member.request({ type: 'ping' });
  t.equal(member.ofType('group').length, 0, 'no duplicate');
  const ackIndex = member.frames.indexOf(ack);
  t.ok(ackIndex === -1 || ackIndex >= 0, 'ack received');
});

t.test('recovery while messages keep coming: no gap, no duplicate, recovered first', async (t) => {
  const { url } = await startGateway(t, CONFIG);
  const sender = await joinedUser(url, 'sender', 'chat:race');
  const member = await user(url, 'member');
  for (let i = 1; i <= 30; i++) await sender.request({ type: 'group', data: { group: 'chat:race', content: i } });
  const epoch = (await sender.request({ type: 'group', data: { group: 'chat:race', content: 31 } })).data.epoch;
  // Fire 100 more without waiting, and rejoin in the middle of them.
  const pending: Promise<Frame>[] = [];
  for (let i = 32; i <= 81; i++) pending.push(sender.request({ type: 'group', data: { group: 'chat:race', content: i } }));
  const ack = member.request({ type: 'join', data: { group: 'chat:race', since: { offset: 10, epoch } } });
  for (let i = 82; i <= 131; i++) pending.push(sender.request({ type: 'group', data: { group: 'chat:race', content: i } }));
  await Promise.all(pending);
  t.equal((await ack).data.recovered, true);
  const frames = await groupFrames(member, 121);
  t.same(frames.map((f) => f.data.offset), Array.from({ length: 121 }, (_, i) => i + 11), 'offsets 11..131, each once, in order');
  const firstLive = frames.findIndex((f) => f.data.recovered !== true);
  t.ok(firstLive === -1 || frames.slice(firstLive).every((f) => f.data.recovered !== true), 'no recovered message after a live one');
  await member.request({ type: 'ping' });
  t.equal(member.ofType('group').length, 0, 'nothing more');
});

t.test('history no longer reaches back (trimmed by Size), or the epoch differs: recovered false', async (t) => {
  const { url } = await startGateway(t, CONFIG);
  const sender = await joinedUser(url, 'sender', 'short:1');
  let epoch = '';
  for (let i = 1; i <= 20; i++) epoch = (await sender.request({ type: 'group', data: { group: 'short:1', content: i } })).data.epoch;
  const member = await user(url, 'member');
  const trimmed = await member.request({ type: 'join', data: { group: 'short:1', since: { offset: 5, epoch } } });
  t.equal(trimmed.data.recovered, false, 'offsets 6..10 were trimmed');
  t.equal(trimmed.data.offset, 20, 'the ack says where to resume from');
  t.equal(trimmed.data.epoch, epoch);
  const inRange = await (await user(url, 'm2')).request({ type: 'join', data: { group: 'short:1', since: { offset: 10, epoch } } });
  t.equal(inRange.data.recovered, true, 'from offset 10, 11..20 are all kept');
  t.equal(inRange.data.count, 10);
  const other = await (await user(url, 'm3')).request({ type: 'join', data: { group: 'short:1', since: { offset: 15, epoch: 'another-epoch' } } });
  t.equal(other.data.recovered, false, 'epoch changed');
  t.equal(other.data.count, 0);
  const future = await (await user(url, 'm4')).request({ type: 'join', data: { group: 'short:1', since: { offset: 99, epoch } } });
  t.equal(future.data.recovered, false, 'an offset beyond the top');
  await member.request({ type: 'ping' });
  t.equal(member.ofType('group').length, 0, 'nothing replayed when not recovered');
});

t.test('history gone after its TTL: recovered false', async (t) => {
  const { url } = await startGateway(t, CONFIG);
  const sender = await joinedUser(url, 'sender', 'brief:1');
  const a = await sender.request({ type: 'group', data: { group: 'brief:1', content: 1 } });
  await sender.request({ type: 'group', data: { group: 'brief:1', content: 2 } });
  const fresh = await (await user(url, 'm1')).request({ type: 'join', data: { group: 'brief:1', since: { offset: 1, epoch: a.data.epoch } } });
  t.equal(fresh.data.recovered, true, 'within TTL');
  // TTL is 1s: wait it out (a fixed duration, not a guess).
  await new Promise((r) => setTimeout(r, 1100));
  const late = await (await user(url, 'm2')).request({ type: 'join', data: { group: 'brief:1', since: { offset: 1, epoch: a.data.epoch } } });
  t.equal(late.data.recovered, false, 'after TTL');
});

t.test('history pages backwards for members only', async (t) => {
  const { url } = await startGateway(t, CONFIG);
  const member = await user(url, 'member');
  await member.request({ type: 'join', data: { group: 'chat:h' } });
  for (let i = 1; i <= 25; i++) await member.request({ type: 'group', data: { group: 'chat:h', content: i } });
  const newest = await member.request({ type: 'history', data: { group: 'chat:h', limit: 10 } });
  t.equal(newest.type, 'history');
  t.equal(newest.data.offset, 25);
  t.same(newest.data.messages.map((m: { content: number }) => m.content), [16, 17, 18, 19, 20, 21, 22, 23, 24, 25], 'newest 10, oldest first');
  const older = await member.request({ type: 'history', data: { group: 'chat:h', before: 16, limit: 10 } });
  t.same(older.data.messages.map((m: { offset: number }) => m.offset), [6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
  const rest = await member.request({ type: 'history', data: { group: 'chat:h', before: 6 } });
  t.same(rest.data.messages.map((m: { offset: number }) => m.offset), [1, 2, 3, 4, 5]);
  const outsider = await user(url, 'outsider');
  t.equal((await outsider.request({ type: 'history', data: { group: 'chat:h' } })).data.code, 'FORBIDDEN');
  t.equal((await member.request({ type: 'history', data: { group: 'chat:h', limit: 101 } })).data.code, 'BAD_REQUEST');
});

t.test('important: true keeps a message of a group without History (ImportantHistory)', async (t) => {
  const { url } = await startGateway(t, CONFIG);
  const a = await user(url, 'a');
  await a.request({ type: 'join', data: { group: 'plain:1' } });
  const plain = await a.request({ type: 'group', data: { group: 'plain:1', content: 'chit-chat' } });
  t.notOk('offset' in plain.data, 'a plain message is not kept');
  const kept = await a.request({ type: 'group', data: { group: 'plain:1', content: 'the score is 3:1', important: true } });
  t.equal(kept.data.offset, 1);
  const frame = await a.next((f) => isGroup(f) && f.data.mid === kept.data.mid);
  t.equal(frame.data.important, true);
  t.equal(frame.data.offset, 1);
  const history = await a.request({ type: 'history', data: { group: 'plain:1' } });
  t.same(history.data.messages.map((m: { content: string }) => m.content), ['the score is 3:1']);
  for (let i = 0; i < 7; i++) await a.request({ type: 'group', data: { group: 'plain:1', content: i, important: true } });
  t.equal((await a.request({ type: 'history', data: { group: 'plain:1' } })).data.messages.length, 5, 'ImportantHistory.Size');
  const b = await user(url, 'b');
  const rejoin = await b.request({ type: 'join', data: { group: 'plain:1', since: { offset: 5, epoch: kept.data.epoch } } });
  t.equal(rejoin.data.recovered, true, 'important messages are recoverable');
  t.equal(rejoin.data.count, 3);
});

t.test('LMDB: history and its epoch survive a restart, so recovery works across it', async (t) => {
  const dir = tempDir(t);
  const cfg = { ...CONFIG, Offline: { Engine: 'lmdb', Path: dir, Fsync: false } };
  const first = await startGateway(t, cfg);
  const sender = await joinedUser(first.url, 'sender', 'chat:d');
  const acks = [];
  for (let i = 1; i <= 5; i++) acks.push(await sender.request({ type: 'group', data: { group: 'chat:d', content: i } }));
  await sender.close();
  await first.gateway.stop();
  const second = await startGateway(t, cfg);
  const member = await user(second.url, 'member');
  const ack = await member.request({ type: 'join', data: { group: 'chat:d', since: { offset: 2, epoch: acks[0]!.data.epoch } } });
  t.equal(ack.data.recovered, true);
  t.same((await groupFrames(member, 3)).map((f) => f.data.content), [3, 4, 5]);
});

t.test('a history store that fails: the sender gets UNAVAILABLE, nothing is delivered, the gateway lives on', async (t) => {
  class FailingHistory extends MemoryGroupHistory {
    failing = false;
    override async append(...args: Parameters<MemoryGroupHistory['append']>): ReturnType<MemoryGroupHistory['append']> {
      if (this.failing) {
        // Fails after the next publish is queued behind it: its rejection must not go unhandled.
        await new Promise((r) => setTimeout(r, 20));
        throw new GatewayError('UNAVAILABLE', 'history store down');
      }
      return super.append(...args);
    }
  }
  const history = new FailingHistory();
  const engines = embeddedEngines(new MemoryBroker(), new MemoryInbox({ maxPerUser: 100, ttlMs: 60_000 }), new MemoryPresenceStore(), history);
  const { url } = await startGateway(t, CONFIG, engines);
  const a = await joinedUser(url, 'a', 'chat:f');
  const b = await joinedUser(url, 'b', 'chat:f');
  t.equal((await a.request({ type: 'group', data: { group: 'chat:f', content: 'ok' } })).data.offset, 1);
  await b.next(isGroup);
  history.failing = true;
  const replies = await Promise.all([1, 2, 3].map((n) => a.request({ type: 'group', data: { group: 'chat:f', content: n } })));
  t.same(replies.map((r) => r.data.code), ['UNAVAILABLE', 'UNAVAILABLE', 'UNAVAILABLE']);
  history.failing = false;
  const after = await a.request({ type: 'group', data: { group: 'chat:f', content: 'back' } });
  t.equal(after.data.offset, 2, 'no offset was spent on the failures');
  t.equal((await b.next(isGroup)).data.content, 'back', 'the failed ones were never delivered');
});

t.test('recovery longer than one history page (500): every missed message, in order', async (t) => {
  const { url } = await startGateway(t, CONFIG);
  const sender = await joinedUser(url, 'sender', 'chat:long');
  const sends: Promise<Frame>[] = [];
  for (let i = 1; i <= 700; i++) sends.push(sender.request({ type: 'group', data: { group: 'chat:long', content: i } }, 20_000));
  const acks = await Promise.all(sends);
  const member = await user(url, 'member');
  const ack = await member.request({ type: 'join', data: { group: 'chat:long', since: { offset: 0, epoch: '' } } });
  t.equal(ack.data.recovered, true, 'offset 0: nothing seen, any epoch');
  t.equal(ack.data.count, 700);
  t.equal(ack.data.epoch, acks[0]!.data.epoch);
  const frames = await groupFrames(member, 700);
  t.ok(frames.every((f, i) => f.data.offset === i + 1 && f.data.content === i + 1), 'offsets and contents 1..700');
});
