import type tap from 'tap';
import { GatewayError } from '../../src/errors.js';
import type { PresenceRecord, PresenceStore } from '../../src/engine/presence.js';

/** A tap test object as handed to a subtest callback. */
type TapTest = Parameters<Parameters<typeof tap.test>[0]>[0];

export interface PresenceFixture {
  store: PresenceStore;
  /**
   * For durable engines: closes `store` (which must flush it) and opens a new store on
   * the same durable data, as a process restart would. The contract never touches the
   * old store afterwards.
   */
  reopen?: () => Promise<PresenceStore>;
  /** Closes whichever store is open and removes every trace of the fixture. */
  cleanup: () => Promise<void>;
  /**
   * True for stores shared by several nodes (Redis): heartbeat/reapDeadNodes do real
   * work, and `peer()` opens a second store on the same data, as another node would.
   */
  shared?: boolean;
  /** For shared engines: another store on the same data (another node); cleanup closes it. */
  peer?: () => Promise<PresenceStore>;
}

/** Milliseconds since the epoch: any realistic value works; a fixed one keeps failures readable. */
const T0 = 1_700_000_000_000;
const GRACE = 5_000;

/**
 * The one PresenceStore contract, engine-agnostic: every engine runs it with its own
 * factory, which must return an empty store each time it is called.
 */
export function presenceContract(t: TapTest, name: string, factory: () => Promise<PresenceFixture>): void {
  /** Runs `body` with a fresh fixture that is cleaned up whatever happens. */
  const test = (title: string, body: (t: TapTest, fx: PresenceFixture) => Promise<void>): void => {
    void t.test(`${name}: ${title}`, async (t) => {
      const fx = await factory();
      t.teardown(() => fx.cleanup());
      await body(t, fx);
    });
  };

  const one = async (store: PresenceStore, userId: string): Promise<PresenceRecord> => {
    const record = (await store.get([userId])).get(userId);
    if (record === undefined) throw new Error(`get() returned no record for ${userId}`);
    return record;
  };

  test('an unknown user is offline and never seen', async (t, { store }) => {
    const records = await store.get(['nobody', 'nobody-else']);
    t.same([...records.keys()].sort(), ['nobody', 'nobody-else']);
    t.same(records.get('nobody'), { status: 'offline', connections: 0, online: false, lastSeen: 0 });
    t.same(await store.get([]), new Map());
  });

  test('connect: the first connection brings the user online, later ones only count', async (t, { store }) => {
    t.same(await store.connect('u', 'c1', 'n1', T0), { count: 1, evicted: [], cameOnline: true, status: 'online' });
    t.same(await one(store, 'u'), { status: 'online', connections: 1, online: true, lastSeen: T0 });
    t.same(await store.connect('u', 'c2', 'n2', T0 + 10), { count: 2, evicted: [], cameOnline: false, status: 'online' });
    t.same(await one(store, 'u'), { status: 'online', connections: 2, online: true, lastSeen: T0 + 10 });
    t.same(await store.connect('u', 'c2', 'n2', T0 + 20), { count: 2, evicted: [], cameOnline: false, status: 'online' },
      'the same connId again changes nothing');
    t.equal((await one(store, 'u')).connections, 2);
    t.same(await one(store, 'other'), { status: 'offline', connections: 0, online: false, lastSeen: 0 },
      'other users are untouched');
  });

  test('disconnect: only the last connection starts the grace period', async (t, { store }) => {
    await store.connect('u', 'c1', 'n1', T0);
    await store.connect('u', 'c2', 'n1', T0);
    t.same(await store.disconnect('u', 'c1', T0 + 100, GRACE), { count: 1, lastConnection: false });
    t.same(await store.disconnect('u', 'c1', T0 + 150, GRACE), { count: 1, lastConnection: false },
      'disconnecting the same connId again changes nothing');
    t.same(await store.disconnect('u', 'nope', T0 + 150, GRACE), { count: 1, lastConnection: false },
      'an unknown connId changes nothing');
    t.same(await store.disconnect('u', 'c2', T0 + 200, GRACE), { count: 0, lastConnection: true });
    t.same(await one(store, 'u'), { status: 'online', connections: 0, online: true, lastSeen: T0 + 200 },
      'in grace the user is still online with no connection');
    t.same(await store.disconnect('u', 'c2', T0 + 300, GRACE), { count: 0, lastConnection: false },
      'a second last-disconnect does not re-arm the grace period');
    t.same(await store.disconnect('ghost', 'c', T0, GRACE), { count: 0, lastConnection: false });
    t.same(await one(store, 'ghost'), { status: 'offline', connections: 0, online: false, lastSeen: 0 });
  });

  test('expire: exactly once, only when due and still disconnected', async (t, { store }) => {
    t.equal(await store.expire('ghost', T0), false, 'an unknown user never expires');
    await store.connect('u', 'c1', 'n1', T0);
    t.equal(await store.expire('u', T0 + GRACE * 10), false, 'a connected user never expires');
    await store.disconnect('u', 'c1', T0 + 1_000, GRACE);
    t.equal(await store.expire('u', T0 + 1_000 + GRACE - 1), false, 'not due before the deadline');
    t.equal(await store.expire('u', T0 + 1_000 + GRACE), true, 'due at the deadline');
    t.equal(await store.expire('u', T0 + 1_000 + GRACE + 1), false, 'already done');
    t.same(await one(store, 'u'), { status: 'offline', connections: 0, online: false, lastSeen: T0 + 1_000 });
    t.same(await store.disconnect('u', 'c1', T0 + 9_000, GRACE), { count: 0, lastConnection: false });
    t.equal(await store.expire('u', T0 + 99_000), false, 'a stray disconnect does not re-open a grace period');
  });

  test('a zero grace period is due at once', async (t, { store }) => {
    await store.connect('u', 'c1', 'n1', T0);
    await store.disconnect('u', 'c1', T0 + 5, 0);
    t.equal(await store.expire('u', T0 + 5), true);
  });

  test('a reconnect within grace keeps the user online and the chosen status', async (t, { store }) => {
    await store.connect('u', 'c1', 'n1', T0);
    t.equal(await store.setStatus('u', 'away', T0 + 1), 'online');
    await store.disconnect('u', 'c1', T0 + 100, GRACE);
    t.same(await store.connect('u', 'c2', 'n2', T0 + 200), { count: 1, evicted: [], cameOnline: false, status: 'away' },
      'no flapping: nothing to announce');
    t.equal(await store.expire('u', T0 + 100 + GRACE), false, 'the old deadline no longer applies');
    t.same(await one(store, 'u'), { status: 'away', connections: 1, online: true, lastSeen: T0 + 200 });
    // The next grace period is measured from the next last disconnect.
    await store.disconnect('u', 'c2', T0 + 10_000, GRACE);
    t.equal(await store.expire('u', T0 + 10_000 + GRACE - 1), false);
    t.equal(await store.expire('u', T0 + 10_000 + GRACE), true);
  });

  test('coming back after going offline is a new online transition with status reset', async (t, { store }) => {
    await store.connect('u', 'c1', 'n1', T0);
    await store.setStatus('u', 'busy', T0 + 1);
    await store.disconnect('u', 'c1', T0 + 2, GRACE);
    t.equal(await store.expire('u', T0 + 2 + GRACE), true);
    t.same(await store.connect('u', 'c1', 'n1', T0 + 60_000), { count: 1, evicted: [], cameOnline: true, status: 'online' },
      'even the same connId counts again once the user went offline');
    t.same(await one(store, 'u'), { status: 'online', connections: 1, online: true, lastSeen: T0 + 60_000 });
  });

  test('setStatus: only for online users, returns the previous status', async (t, { store }) => {
    t.equal(await store.setStatus('ghost', 'away', T0), undefined, 'unknown user');
    t.same(await one(store, 'ghost'), { status: 'offline', connections: 0, online: false, lastSeen: 0 });
    await store.connect('u', 'c1', 'n1', T0);
    t.equal(await store.setStatus('u', 'away', T0 + 1), 'online');
    t.equal(await store.setStatus('u', 'busy', T0 + 2), 'away');
    t.equal(await store.setStatus('u', 'busy', T0 + 3), 'busy', 'setting the same status returns it');
    t.same(await one(store, 'u'), { status: 'busy', connections: 1, online: true, lastSeen: T0 });
    await store.disconnect('u', 'c1', T0 + 10, GRACE);
    t.equal(await store.setStatus('u', 'away', T0 + 11), 'busy', 'a user in grace is still online');
    await store.expire('u', T0 + 10 + GRACE);
    t.equal(await store.setStatus('u', 'online', T0 + 20_000), undefined, 'offline user');
    t.same(await one(store, 'u'), { status: 'offline', connections: 0, online: false, lastSeen: T0 + 10 },
      'and nothing changed');
  });

  test('invisible: persists across offline periods and hides lastSeen', async (t, { store }) => {
    await store.connect('u', 'c1', 'n1', T0);
    t.equal(await store.setStatus('u', 'invisible', T0 + 50), 'online');
    t.equal((await one(store, 'u')).lastSeen, T0 + 50, 'lastSeen is when the user appeared to go offline');
    t.same(await store.connect('u', 'c2', 'n1', T0 + 100), { count: 2, evicted: [], cameOnline: false, status: 'invisible' });
    await store.disconnect('u', 'c2', T0 + 200, GRACE);
    await store.disconnect('u', 'c1', T0 + 300, GRACE);
    t.same(await one(store, 'u'), { status: 'invisible', connections: 0, online: true, lastSeen: T0 + 50 },
      'connects and disconnects while invisible leave lastSeen alone');
    t.equal(await store.expire('u', T0 + 300 + GRACE), true, 'the store still reports the transition');
    t.same(await store.connect('u', 'c3', 'n1', T0 + 90_000), { count: 1, evicted: [], cameOnline: true, status: 'invisible' },
      'invisible is kept when the user comes back');
    t.equal((await one(store, 'u')).lastSeen, T0 + 50);
    t.equal(await store.setStatus('u', 'online', T0 + 91_000), 'invisible');
    t.equal((await one(store, 'u')).lastSeen, T0 + 91_000, 'becoming visible is being seen');
    await store.connect('u', 'c4', 'n1', T0 + 92_000);
    t.equal((await one(store, 'u')).lastSeen, T0 + 92_000, 'visible again: connects update lastSeen');
  });

  test('groups: members are users with a connection in the group', async (t, { store }) => {
    t.same(await store.members('g', 10), { users: [], count: 0 }, 'unknown group');
    await store.join('g', 'a', 'a1');
    await store.join('g', 'a', 'a2');
    await store.join('g', 'a', 'a2');
    await store.join('g', 'b', 'b1');
    await store.join('h', 'c', 'c1');
    let g = await store.members('g', 10);
    t.same(g.users.slice().sort(), ['a', 'b'], 'users, not connections, each once');
    t.equal(g.count, 2);
    await store.leave('g', 'a', 'a1');
    t.same((await store.members('g', 10)).users.slice().sort(), ['a', 'b'], 'a keeps a2 in the group');
    await store.leave('g', 'a', 'a1');
    await store.leave('g', 'a', 'never-joined');
    await store.leave('nowhere', 'a', 'a1');
    await store.leave('g', 'a', 'a2');
    g = await store.members('g', 10);
    t.same(g, { users: ['b'], count: 1 });
    t.same(await store.members('h', 10), { users: ['c'], count: 1 }, 'groups are independent');
    await store.leave('g', 'b', 'b1');
    t.same(await store.members('g', 10), { users: [], count: 0 });
  });

  test('groups: disconnect does not leave; the service calls leave', async (t, { store }) => {
    await store.connect('a', 'a1', 'n1', T0);
    await store.join('g', 'a', 'a1');
    await store.disconnect('a', 'a1', T0 + 1, GRACE);
    t.same(await store.members('g', 10), { users: ['a'], count: 1 });
    await store.leave('g', 'a', 'a1');
    t.same(await store.members('g', 10), { users: [], count: 0 });
  });

  test('groups: limit caps the list, count is the full number', async (t, { store }) => {
    const all = ['u0', 'u1', 'u2', 'u3', 'u4'];
    for (const u of all) await store.join('g', u, `${u}-c`);
    const capped = await store.members('g', 3);
    t.equal(capped.users.length, 3);
    t.equal(capped.count, 5);
    t.equal(new Set(capped.users).size, 3, 'no duplicates');
    t.ok(capped.users.every((u) => all.includes(u)), 'only members');
    t.same(await store.members('g', 0), { users: [], count: 5 });
    t.same((await store.members('g', 100)).users.slice().sort(), all);
  });

  test('atomic per user: concurrent calls see each transition once', async (t, { store }) => {
    const conns = Array.from({ length: 20 }, (_, i) => `c${i}`);
    const connected = await Promise.all(conns.map((c) => store.connect('u', c, 'n1', T0)));
    t.equal(connected.filter((r) => r.cameOnline).length, 1, 'one caller announces online');
    t.same(connected.map((r) => r.count).sort((x, y) => x - y), conns.map((_, i) => i + 1), 'counts are distinct');
    const gone = await Promise.all(conns.map((c) => store.disconnect('u', c, T0 + 1, GRACE)));
    t.equal(gone.filter((r) => r.lastConnection).length, 1, 'one caller arms the grace timer');
    const expired = await Promise.all(conns.map(() => store.expire('u', T0 + 1 + GRACE)));
    t.equal(expired.filter(Boolean).length, 1, 'one caller announces offline');
  });

  test('connect with limit reject: refuses exactly at max', async (t, { store }) => {
    const limit = { max: 3, policy: 'reject' as const };
    for (let i = 1; i <= 3; i++) {
      t.same(await store.connect('u', `c${i}`, 'n1', T0 + i, limit), { count: i, evicted: [], cameOnline: i === 1, status: 'online' });
    }
    await t.rejects(() => store.connect('u', 'c4', 'n1', T0 + 4, limit),
      { name: 'GatewayError', code: 'TOO_MANY_CONNECTIONS' }, 'the 4th is refused');
    t.equal((await one(store, 'u')).connections, 3, 'the refused connection was not registered');
    t.same(await store.connect('u', 'c2', 'n1', T0 + 5, limit), { count: 3, evicted: [], cameOnline: false, status: 'online' },
      'a repeat of a registered connId is not a new connection');
    await store.disconnect('u', 'c1', T0 + 6, GRACE);
    t.same(await store.connect('u', 'c4', 'n1', T0 + 7, limit), { count: 3, evicted: [], cameOnline: false, status: 'online' },
      'room again after a disconnect');
    t.equal((await one(store, 'other')).connections, 0, 'limits are per user');
  });

  test('connect with limit evict-oldest: removes the oldest, never exceeds max', async (t, { store }) => {
    const limit = { max: 2, policy: 'evict-oldest' as const };
    await store.connect('u', 'a', 'n1', T0 + 10, limit);
    await store.connect('u', 'b', 'n2', T0 + 20, limit);
    t.same(await store.connect('u', 'c', 'n1', T0 + 30, limit),
      { count: 2, evicted: [{ connId: 'a', nodeId: 'n1' }], cameOnline: false, status: 'online' });
    t.same(await store.connect('u', 'd', 'n3', T0 + 40, limit),
      { count: 2, evicted: [{ connId: 'b', nodeId: 'n2' }], cameOnline: false, status: 'online' });
    t.equal((await one(store, 'u')).connections, 2);
    t.same(await store.disconnect('u', 'a', T0 + 50, GRACE), { count: 2, lastConnection: false },
      'an evicted connection is already gone');
    // A lower max evicts as many as needed, oldest first.
    const tight = await store.connect('u', 'e', 'n1', T0 + 60, { max: 1, policy: 'evict-oldest' });
    t.same(tight.evicted, [{ connId: 'c', nodeId: 'n1' }, { connId: 'd', nodeId: 'n3' }]);
    t.equal(tight.count, 1);
    // Same connect time: the earlier registration is the older one.
    await store.connect('v', 'v1', 'n1', T0, limit);
    await store.connect('v', 'v2', 'n1', T0, limit);
    t.same((await store.connect('v', 'v3', 'n1', T0, limit)).evicted, [{ connId: 'v1', nodeId: 'n1' }]);
  });

  test('connect with limit is atomic: 20 concurrent connects with max 5 register exactly 5', async (t, { store }) => {
    const conns = Array.from({ length: 20 }, (_, i) => `c${i}`);
    const results = await Promise.allSettled(conns.map((c) => store.connect('u', c, 'n1', T0, { max: 5, policy: 'reject' })));
    const ok = results.filter((r) => r.status === 'fulfilled');
    t.equal(ok.length, 5, 'five accepted');
    t.ok(results.every((r) => r.status === 'fulfilled'
      || (r.reason instanceof GatewayError && r.reason.code === 'TOO_MANY_CONNECTIONS')), 'the rest refused with TOO_MANY_CONNECTIONS');
    t.equal((await one(store, 'u')).connections, 5);
    const evicting = await Promise.all(conns.map((c) => store.connect('w', c, 'n1', T0, { max: 5, policy: 'evict-oldest' })));
    t.ok(evicting.every((r) => r.count <= 5), 'the count never exceeds max');
    t.equal(evicting.reduce((n, r) => n + r.evicted.length, 0), 15, 'every connection beyond 5 evicted one');
    t.equal((await one(store, 'w')).connections, 5);
  });

  test('liveNodes: nodes whose lease runs, in node order', async (t, { store }) => {
    const now = Date.now();
    await store.heartbeat('n2', 120_000, now);
    await store.heartbeat('n1', 60_000, now);
    t.same(await store.liveNodes(now + 10), [{ nodeId: 'n1', leaseExpiresAt: now + 60_000 }, { nodeId: 'n2', leaseExpiresAt: now + 120_000 }]);
    t.same(await store.liveNodes(now + 70_000), [{ nodeId: 'n2', leaseExpiresAt: now + 120_000 }], 'a lapsed lease is not live');
    await store.heartbeat('n1', 60_000, now + 100_000);
    t.same((await store.liveNodes(now + 110_000)).map((n) => n.nodeId), ['n1', 'n2'], 'renewed');
  });

  test('heartbeat and reapDeadNodes: a dead node\'s users go offline once', async (t, fx) => {
    if (fx.shared !== true || fx.peer === undefined) {
      t.same(await fx.store.reapDeadNodes(Date.now()), [], 'a single-node store has no other node to reap');
      await fx.store.heartbeat('n1', 1_000, Date.now());
      return;
    }
    const a = fx.store;
    const b = await fx.peer();
    const now0 = Date.now();
    await a.heartbeat('A', 200, now0);
    await b.heartbeat('B', 60_000, now0);
    await a.connect('onlyA', 'a1', 'A', now0);
    await a.connect('onlyA', 'a2', 'A', now0);
    await a.connect('both', 'a3', 'A', now0);
    await b.connect('both', 'b1', 'B', now0);
    await b.connect('onlyB', 'b2', 'B', now0);
    await a.join('room', 'onlyA', 'a1');
    await a.join('room', 'both', 'a3');
    await b.join('room', 'onlyB', 'b2');
    await a.connect('left', 'a4', 'A', now0);
    await a.disconnect('left', 'a4', now0, 60_000);
    t.same(await b.reapDeadNodes(Date.now()), [], 'nothing to reap while A holds its lease');

    // A stops heartbeating; B reaps once the lease lapsed (poll: the lease is real time).
    let reaped: string[] = [];
    const deadline = Date.now() + 5_000;
    while (reaped.length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      reaped = await b.reapDeadNodes(Date.now());
    }
    const reapedAt = Date.now();
    t.same(reaped, ['onlyA'], 'only the user whose last connection was on A');
    t.ok(reapedAt - now0 >= 200, 'not before the lease ran out');
    t.same(await b.reapDeadNodes(Date.now()), [], 'a second reap finds nothing');
    const records = await b.get(['onlyA', 'both', 'onlyB', 'left']);
    t.match(records.get('onlyA'), { connections: 0, online: true }, 'onlyA is in (already due) grace');
    t.match(records.get('both'), { connections: 1, online: true }, 'both keeps its connection on B');
    t.match(records.get('onlyB'), { connections: 1, online: true }, 'a user on a live node is untouched');
    t.match(records.get('left'), { connections: 0, online: true }, 'a user already in grace keeps its own deadline');
    t.equal(await b.expire('left', Date.now()), false, 'its grace is not shortened');
    const expired = await Promise.all([a.expire('onlyA', Date.now()), b.expire('onlyA', Date.now())]);
    t.equal(expired.filter(Boolean).length, 1, 'expire returns true once');
    t.same((await b.members('room', 10)).users.slice().sort(), ['onlyB'], 'the dead node\'s group memberships are gone');
    t.same(await b.disconnect('both', 'b1', Date.now(), GRACE), { count: 0, lastConnection: true });

    // Concurrent reapers: each user is reported once in total.
    const t1 = Date.now();
    await a.heartbeat('C', 100, t1);
    for (let i = 0; i < 30; i++) await a.connect(`c${i}`, `cc${i}`, 'C', t1);
    await new Promise((r) => setTimeout(r, 150));
    const results = await Promise.all([a.reapDeadNodes(Date.now()), b.reapDeadNodes(Date.now()), b.reapDeadNodes(Date.now())]);
    const all = results.flat();
    t.equal(all.length, 30, 'thirty users reaped');
    t.equal(new Set(all).size, 30, 'each by one reaper only');
  });

  test('bad input is rejected, not crashed on', async (t, { store }) => {
    await t.rejects(() => store.connect('', 'c', 'n', T0), 'empty userId');
    await t.rejects(() => store.connect('u', '', 'n', T0), 'empty connId');
    await t.rejects(() => store.connect('u', 'c', 'n', Number.NaN), 'NaN time');
    await t.rejects(() => store.disconnect('u', 'c', T0, -1), 'negative grace');
    await t.rejects(() => store.setStatus('u', 'offline' as never, T0), 'offline cannot be chosen');
    await t.rejects(() => store.members('g', -1), 'negative limit');
    t.same(await one(store, 'u'), { status: 'offline', connections: 0, online: false, lastSeen: 0 }, 'nothing changed');
  });

  test('durable: lastSeen and invisible survive a restart, connections do not', async (t, fx) => {
    if (fx.reopen === undefined) {
      t.plan(0, 'not a durable engine');
      return;
    }
    const before = fx.store;
    await before.connect('seen', 's1', 'n1', T0);
    await before.disconnect('seen', 's1', T0 + 10, GRACE);
    await before.expire('seen', T0 + 10 + GRACE);
    await before.connect('hidden', 'h1', 'n1', T0);
    await before.setStatus('hidden', 'invisible', T0 + 20);
    await before.connect('away', 'a1', 'n1', T0);
    await before.setStatus('away', 'away', T0 + 30);
    await before.connect('grace', 'g1', 'n1', T0);
    await before.disconnect('grace', 'g1', T0 + 40, GRACE);
    await before.join('room', 'away', 'a1');
    // No await on any write: close (inside reopen) must flush them.
    const after = await fx.reopen();
    const records = await after.get(['seen', 'hidden', 'away', 'grace', 'ghost']);
    t.same(records.get('seen'), { status: 'offline', connections: 0, online: false, lastSeen: T0 + 10 });
    t.same(records.get('hidden'), { status: 'offline', connections: 0, online: false, lastSeen: T0 + 20 });
    t.same(records.get('away'), { status: 'offline', connections: 0, online: false, lastSeen: T0 });
    t.same(records.get('grace'), { status: 'offline', connections: 0, online: false, lastSeen: T0 + 40 },
      'a grace period does not survive');
    t.same(records.get('ghost'), { status: 'offline', connections: 0, online: false, lastSeen: 0 });
    t.equal(await after.expire('grace', T0 + 40 + GRACE), false, 'nothing left to expire');
    t.same(await after.members('room', 10), { users: [], count: 0 }, 'memberships do not survive');
    t.same(await after.connect('hidden', 'h2', 'n1', T0 + 100_000), { count: 1, evicted: [], cameOnline: true, status: 'invisible' },
      'an invisible user stays invisible after a restart');
    t.same(await after.connect('away', 'a2', 'n1', T0 + 100_000), { count: 1, evicted: [], cameOnline: true, status: 'online' });
    t.same(await after.connect('seen', 's1', 'n1', T0 + 100_000), { count: 1, evicted: [], cameOnline: true, status: 'online' });
    t.equal((await one(after, 'hidden')).lastSeen, T0 + 20);
  });
}
