import t from 'tap';
import { pino } from 'pino';
import type { Principal } from '../../src/core/auth.js';
import { createConnection, type ConnectionInit } from '../../src/core/connection.js';

const principal: Principal = { userId: 'alice', groups: [], perms: new Set(), publish: [], contacts: new Set(), expiresAt: undefined };
const init = (extra: Partial<ConnectionInit> = {}): ConnectionInit => ({ id: 'c1', principal, format: 'json', ip: '10.0.0.1', log: pino({ level: 'silent' }), ...extra });
const rate = { messagesPerSecond: 10, burst: 10 };

t.test('clock fields are kept in whole milliseconds, deadlines rounded up', async (t) => {
  const conn = createConnection(init({ expiresAt: 2000.2 }), rate, 1000.7);
  t.equal(conn.openedAt, 1000, 'opened: rounded down');
  t.equal(conn.lastActive, 1000, 'active since the open');
  t.equal(conn.expiresAt, 2001, 'a deadline is never moved earlier');
  conn.lastActive = 1500.9;
  t.equal(conn.lastActive, 1500);
  conn.expiresAt = 3000;
  t.equal(conn.expiresAt, 3000, 'whole deadlines are kept as they are');
  conn.expiresAt = -5.5;
  t.equal(conn.expiresAt, -5, 'a deadline already past stays past');
});

t.test('a connection without a deadline never expires, and can be given one later', async (t) => {
  const conn = createConnection(init(), rate, 0);
  t.equal(conn.expiresAt, Infinity);
  conn.expiresAt = 10;
  t.equal(conn.expiresAt, 10);
  conn.expiresAt = Infinity;
  t.equal(conn.expiresAt, Infinity);
});

t.test('buckets and sets appear on first use, full as of the open', async (t) => {
  const conn = createConnection(init(), { messagesPerSecond: 1, burst: 2 }, 100);
  t.equal(conn.rate.take(100_000), 0);
  t.equal(conn.rate.take(100_000), 0);
  t.equal(conn.rate.take(100_000), 1000, 'the burst of 2, then one per second');
  t.equal(conn.groups.size, 0);
  conn.groups.add('g');
  t.equal(conn.groups.size, 1, 'the same set on every read');
});

t.test('upgrade-time fields: each keeps its own value until cleared', async (t) => {
  const conn = createConnection(init(), rate, 0);
  t.same([conn.registration, conn.localReservation, conn.topicHold], [undefined, false, undefined], 'nothing held at first');
  const release = () => undefined;
  const registration = { count: 1, evicted: [], cameOnline: true, status: 'online' as const };
  conn.registration = registration;
  conn.localReservation = true;
  conn.topicHold = release;
  t.equal(conn.registration, registration);
  t.equal(conn.localReservation, true);
  t.equal(conn.topicHold, release);
  conn.localReservation = false;
  t.equal(conn.registration, registration, 'clearing one keeps the others');
  t.equal(conn.topicHold, release);
  conn.topicHold = undefined;
  conn.registration = undefined;
  t.same([conn.registration, conn.localReservation, conn.topicHold], [undefined, false, undefined], 'all cleared');
  conn.topicHold = release;
  t.equal(conn.topicHold, release, 'and can be set again');
});
