import t from 'tap';
import { pino } from 'pino';
import { Admission } from '../../src/core/admission.js';
import { Hub } from '../../src/core/hub.js';
import { MemoryBroker } from '../../src/engine/memory/broker.js';
import { createConnection } from '../../src/core/connection.js';
import { FakeFanout } from '../helpers/fake-socket.js';

const log = pino({ level: 'silent' });

function setup(settings: { maxConn: number; maxConnPerUser: number; perUserPolicy: 'reject' | 'evict-oldest' }) {
  const fanout = new FakeFanout();
  const hub = new Hub({ fanout, broker: new MemoryBroker(), nodeId: 'n', log });
  const admission = new Admission(hub, settings);
  let n = 0;
  const openConn = (userId: string) => {
    const conn = createConnection({ id: `c${++n}`, principal: { userId, groups: [], perms: new Set(), publish: [], contacts: new Set<string>() }, format: 'json', ip: '1.1.1.1', log }, { messagesPerSecond: 1, burst: 1 }, 0);
    const socket = fanout.socket();
    conn.socket = socket;
    conn.phase = 'open';
    void hub.add(conn);
    return { conn, socket };
  };
  return { hub, admission, openConn };
}

t.test('MaxConn counts open connections and upgrades in flight', async (t) => {
  const { admission, openConn } = setup({ maxConn: 3, maxConnPerUser: 10, perUserPolicy: 'reject' });
  openConn('a');
  admission.reserveNode();
  admission.reserveNode();
  t.equal(admission.pending, 2);
  t.throws(() => admission.reserveNode(), { code: 'SERVER_FULL' }, '1 open + 2 in flight = MaxConn');
  admission.release();
  t.equal(admission.pending, 1);
  admission.reserveNode();
  t.equal(admission.pending, 2, 'a released reservation can be taken again');
});

t.test('per-user fallback, reject: open and pending connections count', async (t) => {
  const { admission, openConn } = setup({ maxConn: 100, maxConnPerUser: 2, perUserPolicy: 'reject' });
  openConn('u');
  admission.reserveNode();
  admission.reserveUser('u');
  admission.reserveNode();
  t.throws(() => admission.reserveUser('u'), { code: 'TOO_MANY_CONNECTIONS' });
  admission.reserveUser('v');
  admission.release('u');
  t.equal(admission.pending, 1, 'release ends one upgrade: its node and its user reservation');
  admission.reserveUser('u');
  t.throws(() => admission.reserveUser('u'), { code: 'TOO_MANY_CONNECTIONS' }, 'the freed user slot was taken again');
});

t.test('per-user fallback, evict-oldest: the oldest open connections are closed with 4008', async (t) => {
  const { admission, openConn } = setup({ maxConn: 100, maxConnPerUser: 2, perUserPolicy: 'evict-oldest' });
  const first = openConn('u');
  const second = openConn('u');
  admission.reserveUser('u');
  t.same(first.socket.ended, { code: 4008, reason: 'replaced by a newer connection' }, 'the oldest is evicted');
  t.equal(second.socket.ended, undefined, 'the newer one stays');
  // Two upgrades already pending for the user and no open connection left to evict:
  admission.reserveUser('u');
  t.throws(() => admission.reserveUser('u'), { code: 'TOO_MANY_CONNECTIONS' }, 'nothing left to evict: refused');
});
