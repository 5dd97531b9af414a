import t from 'tap';
import { TokenBucket } from '../../src/core/token-bucket.js';
import { IpGuard, UserRateLimiter } from '../../src/core/limits.js';
import { GatewayError } from '../../src/errors.js';
import type { RateShare } from '../../src/engine/rate-share.js';
import { pino } from 'pino';

t.test('TokenBucket: burst, refill at the rate, wait times, debit floor', async (t) => {
  const b = new TokenBucket(10, 3, 0);
  t.same([b.take(0), b.take(0), b.take(0)], [0, 0, 0], 'the burst');
  t.equal(b.take(0), 100, 'empty: one token comes in 100 ms at 10/s');
  t.equal(b.take(50), 50, 'half refilled: 50 ms to go');
  t.equal(b.take(100), 0, 'refilled');
  t.notOk(b.isFull(100));
  t.ok(b.isFull(10_000), 'never above the burst');
  t.same([b.take(10_000), b.take(10_000), b.take(10_000)], [0, 0, 0]);
  t.equal(b.take(10_000), 100, 'refill is capped at the burst');
  b.debit(100, 10_000);
  t.equal(b.take(10_000), 400, 'a debit goes negative, down to -burst: (1 + 3) tokens to wait for');
  t.equal(b.take(9_000), 400, 'time going backwards refills nothing');
});

t.test('IpGuard: rate of attempts, cap on held slots, release, sweep', async (t) => {
  const g = new IpGuard({ maxConnPerIp: 2, upgradesPerSecondPerIp: 3 });
  g.admit('a', 0);
  g.admit('a', 0);
  t.equal(g.held('a'), 2);
  t.throws(() => g.admit('a', 0), new GatewayError('TOO_MANY_CONNECTIONS'), 'at the cap');
  t.equal(g.held('a'), 2, 'a refusal reserves nothing');
  t.throws(() => g.admit('a', 0), { code: 'RATE_LIMITED' }, 'the fourth attempt in the same instant is over the rate');
  g.admit('b', 0);
  t.equal(g.held('b'), 1, 'addresses are independent');
  g.release('a');
  t.equal(g.held('a'), 1);
  g.admit('a', 1000);
  t.equal(g.held('a'), 2, 'a released slot can be taken again');
  g.release('a');
  g.release('a');
  g.release('a');
  t.equal(g.held('a'), 0, 'never below zero');
  g.sweep(10_000);
  g.admit('a', 10_000);
  g.admit('a', 10_000);
  t.throws(() => g.admit('a', 10_000), { code: 'TOO_MANY_CONNECTIONS' }, 'sweeping forgets rate buckets, not held slots');
});

t.test('UserRateLimiter: shared by a user\'s connections, forgotten on release', async (t) => {
  const r = new UserRateLimiter({ messagesPerSecond: 1, burst: 2 });
  r.opened('u', 0);
  t.same([r.take('u', 0), r.take('u', 0)], [0, 0]);
  t.equal(r.take('u', 0), 1000, 'the user\'s bucket is empty, whichever connection sends');
  t.equal(r.take('v', 0), 0, 'other users are independent');
  r.release('u');
  t.equal(r.take('u', 0), 0, 'a released user starts with a full bucket');
});

t.test('UserRateLimiter on a single node: an idle user holds no bucket', async (t) => {
  const r = new UserRateLimiter({ messagesPerSecond: 1, burst: 2 });
  for (let i = 0; i < 100; i++) r.opened(`idle-${i}`, 0);
  t.equal(r.size, 0, 'opening connections creates no bucket');
  t.equal(r.take('idle-1', 0), 0);
  t.equal(r.size, 1, 'the first frame does');
  t.same([r.take('idle-1', 0), r.take('idle-1', 0)], [0, 1000], 'and it started full at the burst');
  r.release('idle-1');
  t.equal(r.size, 0);
});

t.test('UserRateLimiter in a cluster: reports only users that sent, debits remote ones', async (t) => {
  const reports: Map<string, number>[] = [];
  let remote = new Map<string, number>();
  const share: RateShare = {
    exchange: async (_node, counts) => {
      reports.push(new Map(counts));
      return remote;
    },
    close: async () => {},
  };
  const r = new UserRateLimiter({ messagesPerSecond: 1, burst: 5 }, { share, nodeId: 'n1', log: pino({ level: 'silent' }) }, () => 0);
  await r.exchange();
  t.equal(reports.length, 0, 'no local user: no exchange at all');
  r.opened('u', 0);
  r.opened('quiet', 0);
  for (let i = 0; i < 3; i++) r.take('u', 0);
  remote = new Map([['u', 2], ['quiet', 4], ['stranger', 9]]);
  await r.exchange();
  t.same(Object.fromEntries(reports[0]!), { u: 3 }, 'only what users that sent sent since the last exchange; quiet users are not named');
  t.equal(r.take('u', 0), 1000, '3 sent here + 2 elsewhere: the burst of 5 is spent');
  t.equal(r.take('quiet', 0), 0, 'a user that sent nothing here is still debited for what it sent elsewhere (4 of 5)...');
  t.equal(r.take('quiet', 0), 1000, '...so only one frame was left');
  t.same([r.take('stranger', 0), r.take('stranger', 0)], [0, 0], 'a user without a local bucket is not charged for remote frames');
  remote = new Map();
  reports.length = 0;
  r.release('stranger');
  await r.exchange();
  t.same(Object.fromEntries(reports[0]!), { quiet: 1, stranger: 2 },
    'counts start over after each exchange (refused frames do not count; a released user\'s frames still do)');
  await r.exchange();
  t.same(Object.fromEntries(reports[1]!), {}, 'idle users: an empty report (one read, whatever the number of users)');
  const failing = new UserRateLimiter({ messagesPerSecond: 1, burst: 5 }, {
    share: { exchange: async () => { throw new GatewayError('UNAVAILABLE'); }, close: async () => {} },
    nodeId: 'n1',
    log: pino({ level: 'silent' }),
  }, () => 0);
  failing.opened('u', 0);
  await failing.exchange();
  t.equal(failing.take('u', 0), 0, 'a failed exchange leaves local limiting in place');
});
