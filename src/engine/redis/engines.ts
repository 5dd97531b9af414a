import type { Logger } from 'pino';
import type { RedisConfig } from '../../config.js';
import type { Engines } from '../engines.js';
import type { InboxOptions } from '../inbox.js';
import { RedisBroker } from './broker.js';
import { RedisIdempotencyStore } from './idempotency.js';
import { closeRedis, createRedis, errorText, RedisHealth } from './connection.js';
import { RedisGroupHistory } from './history.js';
import { RedisInbox } from './inbox.js';
import { RedisPresenceStore } from './presence.js';
import { RedisRateShare } from './rate-share.js';

/**
 * Cluster mode: every engine on Redis. Connections: one command connection shared by
 * presence, inbox and rate share (each call is one script or a pipeline, so one
 * connection keeps call order per node), plus the broker's own publisher and
 * dedicated subscriber(s). Nothing waits for Redis: the gateway starts while Redis is
 * unreachable, reports it through notReadyReason (for /readyz), and every call fails
 * with UNAVAILABLE until Redis is back. onRecovered fires when connections come back
 * after being down and when this node finds its lease lapsed (other nodes may have
 * reaped its connections): the node then re-registers what it holds.
 */
export async function createRedisEngines(
  cfg: RedisConfig,
  inbox: InboxOptions,
  nodeId: string,
  log: Logger,
  /** Tracks every connection's state; tests pass their own to observe it. */
  health: RedisHealth = new RedisHealth(log),
): Promise<Engines> {
  if (cfg.type === 'cluster' && /[{}]/.test(cfg.keyPrefix)) {
    // A brace in the prefix would become the hash tag of every key: all data on one shard.
    throw new RangeError(`Redis.KeyPrefix: got ${JSON.stringify(cfg.keyPrefix)}, expected no { or } with Redis.Type: cluster`);
  }
  const commands = createRedis(cfg, 'commands', log, { health });
  // A frozen Redis keeps its connections open: only a probe notices (see RedisHealth.probe).
  health.probe('commands', commands);
  const broker = new RedisBroker({ redis: cfg, log, health });
  const presence = new RedisPresenceStore({
    client: commands,
    keyPrefix: cfg.keyPrefix,
    log,
    onLeaseLost: (lost) => {
      log.warn({ nodeId: lost }, 'this node\'s presence lease had lapsed; re-registering its connections');
      health.notifyRecovered();
    },
  });
  const redisInbox = new RedisInbox({ ...inbox, client: commands, keyPrefix: cfg.keyPrefix, log });
  const rateShare = new RedisRateShare({ client: commands, keyPrefix: cfg.keyPrefix, log });
  const idempotency = new RedisIdempotencyStore({ client: commands, keyPrefix: cfg.keyPrefix, log });
  const history = new RedisGroupHistory({ client: commands, keyPrefix: cfg.keyPrefix, log });
  log.info({ type: cfg.type, endpoints: cfg.endpoints.length, keyPrefix: cfg.keyPrefix, nodeId }, 'redis engines created');
  let closed = false;
  return {
    broker,
    inbox: redisInbox,
    presence,
    history,
    rateShare,
    idempotency,
    notReadyReason: () => health.notReadyReason(),
    onRecovered: (callback) => health.onRecovered(callback),
    onLost: (callback) => health.onLost(callback),
    close: async () => {
      if (closed) return;
      closed = true;
      const results = await Promise.allSettled([redisInbox.close(), history.close(), presence.close(), rateShare.close(), idempotency.close(), broker.close()]);
      await closeRedis(commands);
      for (const r of results) {
        if (r.status === 'rejected') log.warn({ err: errorText(r.reason) }, 'closing a redis engine failed');
      }
    },
  };
}
