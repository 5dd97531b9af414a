import { mkdirSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { Broker } from './engine/broker.js';
import type { GroupHistory } from './engine/history.js';
import type { Inbox } from './engine/inbox.js';
import type { PresenceStore } from './engine/presence.js';
import { LocalRateShare, type RateShare } from './engine/rate-share.js';
import { MemoryBroker } from './engine/memory/broker.js';
import { MemoryInbox } from './engine/memory/inbox.js';
import { MemoryPresenceStore } from './engine/memory/presence.js';
import { LmdbInbox } from './engine/lmdb/inbox.js';
import { LmdbGroupHistory } from './engine/lmdb/history.js';
import { MemoryGroupHistory } from './engine/memory/history.js';
import { LmdbPresenceStore } from './engine/lmdb/presence.js';

/** The engines one gateway runs on. Chosen by `createEngines` from config, or given by tests. */
export interface Engines {
  broker: Broker;
  inbox: Inbox;
  presence: PresenceStore;
  /** Per-group message history (groups with History, important messages). */
  history: GroupHistory;
  rateShare: RateShare;
  /** Null when every engine can serve; otherwise why not (shown by /readyz). */
  notReadyReason(): string | null;
  /**
   * Registers a callback run each time a shared engine comes back after being
   * unavailable, so the node can re-register what it holds locally.
   */
  onRecovered(callback: () => void): void;
  /** Closes every engine, flushing durable ones. */
  close(): Promise<void>;
}

/** Embedded engines: always ready, nothing to recover from. */
function embedded(broker: Broker, inbox: Inbox, presence: PresenceStore, history: GroupHistory = new MemoryGroupHistory()): Engines {
  const rateShare = new LocalRateShare();
  return {
    broker,
    inbox,
    presence,
    history,
    rateShare,
    notReadyReason: () => null,
    onRecovered: () => {},
    close: async () => {
      await inbox.close();
      await history.close();
      await presence.close();
      await broker.close();
      await rateShare.close();
    },
  };
}

/**
 * The one place that picks engine implementations. With a Redis section every
 * engine is Redis (cluster mode); without one the embedded engines run, LMDB (durable,
 * the default) or memory per Offline.Engine. An unknown engine name throws.
 */
export async function createEngines(config: Config, nodeId: string, log: Logger): Promise<Engines> {
  const inboxOptions = { maxPerUser: config.offline.maxPerUser, ttlMs: config.offline.ttl };
  if (config.redis !== undefined) {
    const { createRedisEngines } = await import('./engine/redis/engines.js');
    return createRedisEngines(config.redis, inboxOptions, nodeId, log.child({ module: 'redis' }));
  }
  switch (config.offline.engine) {
    case 'memory':
      return embedded(new MemoryBroker(), new MemoryInbox(inboxOptions), new MemoryPresenceStore());
    case 'lmdb': {
      mkdirSync(config.offline.path, { recursive: true });
      const inbox = await LmdbInbox.open({ ...inboxOptions, path: config.offline.path, fsync: config.offline.fsync });
      const presence = await LmdbPresenceStore.open({ path: config.offline.path });
      const history = await LmdbGroupHistory.open({ path: config.offline.path });
      return embedded(new MemoryBroker(), inbox, presence, history);
    }
    default:
      throw new Error(`unknown Offline.Engine ${String(config.offline.engine)}`);
  }
}

export { embedded as embeddedEngines };
