import t from 'tap';
import pino from 'pino';
import { GatewayError } from '../../src/errors.js';
import type { Principal } from '../../src/core/auth.js';
import { createConnection } from '../../src/core/connection.js';
import { TokenLifetime } from '../../src/core/token-lifetime.js';

const WALL = 1_800_000_000_000;
const principal = (userId: string, expiresAt?: number, groups: string[] = []): Principal => ({ userId, groups, perms: new Set(), publish: [], contacts: new Set(), expiresAt });

/** Verifies "user|expSeconds|group,group" tokens; "bad" is invalid. */
const verifier = {
  async verify(token: string): Promise<Principal> {
    if (token === 'bad') throw new GatewayError('UNAUTHORIZED', 'invalid token');
    const [user, exp, groups] = token.split('|');
    return principal(user!, exp === undefined || exp === '' ? undefined : Number(exp) * 1000, groups === undefined ? [] : groups.split(','));
  },
};

t.test('the deadline is exp + tolerance on the monotonic clock; Infinity without exp or when switched off', async (t) => {
  const on = new TokenLifetime({ expireConnections: true, clockTolerance: 5000 }, verifier, () => WALL);
  t.equal(on.deadline(principal('a', WALL + 60_000), 1000), 1000 + 65_000);
  t.equal(on.deadline(principal('a', WALL - 10_000), 1000), 1000 - 5000, 'already past: the first sweep closes it');
  t.equal(on.deadline(principal('a'), 1000), Infinity, 'no exp');
  const off = new TokenLifetime({ expireConnections: false, clockTolerance: 0 }, verifier, () => WALL);
  t.equal(off.deadline(principal('a', WALL + 1), 0), Infinity, 'ExpireConnections false');
});

t.test('refresh: same user replaces principal and deadline; another user or a bad token changes nothing', async (t) => {
  const lifetime = new TokenLifetime({ expireConnections: true, clockTolerance: 0 }, verifier, () => WALL);
  const now = 500;
  const conn = createConnection({ id: 'c1', principal: principal('alice', WALL + 1000), format: 'json', ip: '10.0.0.1', log: pino({ level: 'silent' }), expiresAt: now + 1000 }, { messagesPerSecond: 10, burst: 10 }, now);
  t.notOk(lifetime.expired(conn, now + 999));
  t.ok(lifetime.expired(conn, now + 1000));
  await t.rejects(lifetime.refresh(conn, `mallory|${WALL / 1000 + 3600}|vip`, () => now), { code: 'FORBIDDEN' });
  await t.rejects(lifetime.refresh(conn, 'bad', () => now), { code: 'UNAUTHORIZED' });
  t.equal(conn.principal.userId, 'alice');
  t.equal(conn.expiresAt, now + 1000, 'deadline unchanged after failures');
  const refreshed = await lifetime.refresh(conn, `alice|${WALL / 1000 + 3600}|vip`, () => now);
  t.strictSame(conn.principal.groups, ['vip'], 'new groups');
  t.equal(conn.principal, refreshed);
  t.equal(conn.expiresAt, now + 3_600_000, 'new deadline');
  await lifetime.refresh(conn, 'alice||', () => now);
  t.equal(conn.expiresAt, Infinity, 'a token without exp: never expires');
});
