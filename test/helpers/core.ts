import { pino } from 'pino';
import { Admission } from '../../src/core/admission.js';
import type { Principal } from '../../src/core/auth.js';
import { ClientHandler } from '../../src/core/client.js';
import { ContentFilter } from '../../src/core/filter/content-filter.js';
import { DirectPolicy } from '../../src/core/direct-policy.js';
import { Rooms } from '../../src/core/rooms.js';
import { MemoryGroupHistory } from '../../src/engine/memory/history.js';
import { defaultConfig } from '../../src/config.js';
import { Membership } from '../../src/core/membership.js';
import { ResendGuard } from '../../src/core/resends.js';
import { MemoryIdempotencyStore } from '../../src/engine/memory/idempotency.js';
import type { Connection } from '../../src/core/connection.js';
import { GroupPolicy } from '../../src/core/group-policy.js';
import { Hub } from '../../src/core/hub.js';
import { IdGenerator } from '../../src/core/ids.js';
import { IpGuard, UserRateLimiter } from '../../src/core/limits.js';
import { Messaging } from '../../src/core/messaging.js';
import { PresenceService } from '../../src/core/presence.js';
import { Sessions, type TokenVerifier } from '../../src/core/session.js';
import type { Broker } from '../../src/engine/broker.js';
import type { Inbox } from '../../src/engine/inbox.js';
import { MemoryBroker } from '../../src/engine/memory/broker.js';
import { MemoryInbox } from '../../src/engine/memory/inbox.js';
import { MemoryPresenceStore } from '../../src/engine/memory/presence.js';
import type { PresenceStore } from '../../src/engine/presence.js';
import { GatewayError } from '../../src/errors.js';
import { DEFAULT_CODEC_LIMITS } from '../../src/protocol/codec.js';
import type { ClientFrame } from '../../src/protocol/frames.js';
import { Metrics } from '../../src/metrics/registry.js';
import { deferred, FakeFanout, FakeSocket } from './fake-socket.js';

/** A test clock: monotonic milliseconds the test moves by hand. */
export class Clock {
  constructor(public t = 1_000) {}
  readonly now = (): number => this.t;
  advance(ms: number): number {
    this.t += ms;
    return this.t;
  }
}

/**
 * Tokens are plain user ids; `'bad'` is refused, and a token registered with `hold`
 * waits until the test releases it (to abort an upgrade in the middle of its check).
 */
export class FakeVerifier implements TokenVerifier {
  readonly #held = new Map<string, ReturnType<typeof deferred<void>>>();

  async verify(token: string): Promise<Principal> {
    if (token === '' || token === 'bad') throw new GatewayError('UNAUTHORIZED', 'invalid token');
    const held = this.#held.get(token);
    if (held !== undefined) await held.promise;
    const [userId, groups] = token.split('|');
    return { userId: userId!, groups: groups === undefined ? [] : groups.split(','), perms: new Set(['broadcast']), publish: [], contacts: new Set<string>() };
  }

  hold(token: string): () => void {
    const d = deferred<void>();
    this.#held.set(token, d);
    return () => d.resolve();
  }
}

export interface CoreOptions {
  broker?: Broker;
  inbox?: Inbox;
  presenceStore?: PresenceStore;
  maxConn?: number;
  maxConnPerUser?: number;
  perUserPolicy?: 'reject' | 'evict-oldest';
  maxConnPerIp?: number;
  upgradesPerSecondPerIp?: number;
  rate?: { messagesPerSecond: number; burst: number };
  writeTimeout?: number;
  heartbeatInterval?: number;
  maxBackpressure?: number;
  groupsOpen?: string[];
  lingerMs?: number;
}

/**
 * The whole connection core of one node, wired as the gateway wires it, over fake
 * sockets, an injected clock and (by default) the memory engines: no network, no
 * timers. `open` walks a connection through admit → opened → settleUpgrade the way the
 * transport does.
 */
export function createCore(opts: CoreOptions = {}) {
  const clock = new Clock();
  const log = pino({ level: 'silent' });
  const fanout = new FakeFanout();
  const broker = opts.broker ?? new MemoryBroker();
  const inbox = opts.inbox ?? new MemoryInbox({ maxPerUser: 100, ttlMs: 60_000 });
  const store = opts.presenceStore ?? new MemoryPresenceStore();
  const nodeId = 'node-test';
  const metrics = new Metrics();
  const hub = new Hub({ fanout, broker, nodeId, log, now: clock.now, metrics, ...(opts.lingerMs !== undefined ? { lingerMs: opts.lingerMs } : {}) });
  const maxConnPerUser = opts.maxConnPerUser ?? 5;
  const perUserPolicy = opts.perUserPolicy ?? 'reject';
  const presence = new PresenceService({
    store,
    hub,
    nodeId,
    settings: { limit: { max: maxConnPerUser, policy: perUserPolicy }, nodeLease: 15_000, offlineGrace: 0, maxWatch: 10, groupEvents: false },
    log,
  });
  const messaging = new Messaging({ hub, inbox, ids: new IdGenerator('m'), isVisible: (u) => presence.isVisible(u), nodeId, dedupWindow: 120_000, metrics });
  const rate = opts.rate ?? { messagesPerSecond: 1000, burst: 1000 };
  const userRate = new UserRateLimiter(rate);
  const admission = new Admission(hub, { maxConn: opts.maxConn ?? 100, maxConnPerUser, perUserPolicy });
  const ipGuard = new IpGuard({ maxConnPerIp: opts.maxConnPerIp ?? 100, upgradesPerSecondPerIp: opts.upgradesPerSecondPerIp ?? 1000 });
  const membership = new Membership({ hub, presence, maxGroupsPerConn: 3 });
  const filter = new ContentFilter({ ...defaultConfig().filter }, log);
  const rooms = new Rooms({
    hub,
    policy: new GroupPolicy({ ...defaultConfig().groups, open: opts.groupsOpen ?? ['*'] }),
    history: new MemoryGroupHistory(),
    presence,
    members: store,
    filter,
    ids: new IdGenerator('g'),
    metrics,
    membership,
    clock: () => 1_700_000_000_000,
  });
  const client = new ClientHandler({
    hub,
    messaging,
    presence,
    rooms,
    membership,
    resends: new ResendGuard(new MemoryIdempotencyStore(), 120_000),
    direct: new DirectPolicy({ policy: 'anyone', hub, members: store }),
    filter,
    clock: () => 1_700_000_000_000,
    metrics,
  });
  /** Every frame the session dispatched, so a test can await its answer. */
  const handled: Promise<void>[] = [];
  const auth = new FakeVerifier();
  const sessions = new Sessions({
    settings: {
      maxBackpressure: opts.maxBackpressure ?? 1024,
      writeTimeout: opts.writeTimeout ?? 1000,
      heartbeatInterval: opts.heartbeatInterval ?? 5000,
      rate,
    },
    codecLimits: DEFAULT_CODEC_LIMITS,
    hub,
    auth,
    admission,
    ipGuard,
    userRate,
    frames: {
      handle: (conn: Connection, frame: ClientFrame) => {
        const p = client.handle(conn, frame);
        handled.push(p);
        return p;
      },
    },
    presence,
    messaging,
    metrics,
    connIds: new IdGenerator('c'),
    log,
    now: clock.now,
  });

  /** Admits and opens a connection as the transport would; resolves with it and its socket once open-time work is done. */
  async function open(token: string, o: { ip?: string; format?: 'json' | 'msgpack'; waitReady?: boolean } = {}): Promise<{ conn: Connection; socket: FakeSocket }> {
    const { conn } = await sessions.admit({ ip: o.ip ?? '10.0.0.1', token, protocolHeader: o.format ?? 'json', formatQuery: '' }, () => false);
    const socket = fanout.socket();
    sessions.opened(conn, socket);
    sessions.settleUpgrade(conn);
    if (o.waitReady !== false) await conn.ready;
    return { conn, socket };
  }

  /** Closes a connection as uWS would: the socket leaves its topics, then the session hears of it. */
  async function close(conn: Connection, socket: FakeSocket, code = 1000): Promise<void> {
    socket.dropTopics();
    sessions.closed(conn, code);
    await conn.ready;
    await presence.idle();
  }

  /** Sends a client frame through the session (decode, gates, dispatch) and waits for its answer. */
  async function send(conn: Connection, frame: object): Promise<void> {
    const before = handled.length;
    sessions.frame(conn, new TextEncoder().encode(JSON.stringify(frame)), false);
    await Promise.all(handled.slice(before));
  }

  return { clock, fanout, broker, inbox, store, hub, presence, messaging, metrics, userRate, admission, ipGuard, client, sessions, auth, handled, open, close, send };
}
