import t from 'tap';
import { MemoryInbox } from '../../src/engine/memory/inbox.js';

const T0 = 1_700_000_000_000;

t.test('takeDropped looks at the oldest entry only; an expired entry behind a live one waits for the sweep', async (t) => {
  let now = T0;
  const inbox = new MemoryInbox({ maxPerUser: 10, ttlMs: 1000 }, () => now);
  const entry = (n: number, timestamp: number) => ({ mid: `m${n}`, from: 's', to: 'u', content: n, timestamp });
  await inbox.append('u', entry(1, T0));
  // Stamped out of order, already expired: behind the live oldest entry.
  await inbox.append('u', entry(2, T0 - 5000));
  t.equal(await inbox.takeDropped('u'), 0, 'the oldest entry is live: no scan, nothing reported yet');
  t.same((await inbox.read('u', 0, 10)).map((e) => e.mid), ['m1'], 'reads still skip the expired one');
  t.equal(await inbox.sweep(), 1, 'the sweep removes it');
  t.equal(await inbox.takeDropped('u'), 1, 'and it is reported once');
  t.equal(await inbox.takeDropped('u'), 0);
  now = T0 + 1001;
  t.equal(await inbox.takeDropped('u'), 1, 'once the oldest expires, it is reported without a sweep');
});

t.test('a full inbox of a recipient who never acks drops its oldest entries and reports each drop once', async (t) => {
  const inbox = new MemoryInbox({ maxPerUser: 3, ttlMs: 60_000 }, () => T0);
  for (let n = 1; n <= 5; n++) await inbox.append('u', { mid: `m${n}`, from: 's', to: 'u', content: n, timestamp: T0 });
  t.same((await inbox.read('u', 0, 10)).map((e) => e.mid), ['m3', 'm4', 'm5'], 'the newest three are kept');
  t.equal(await inbox.takeDropped('u'), 2);
  t.equal(await inbox.takeDropped('u'), 0);
});
