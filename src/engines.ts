import { mkdirSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { embeddedEngines, type Engines } from './engine/engines.js';
import { MemoryBroker } from './engine/memory/broker.js';
import { MemoryInbox } from './engine/memory/inbox.js';
import { MemoryPresenceStore } from './engine/memory/presence.js';
import { JournalInbox } from './engine/journal/inbox.js';
import { LmdbInbox } from './engine/lmdb/inbox.js';
import { LmdbGroupHistory } from './engine/lmdb/history.js';
import { LmdbPresenceStore } from './engine/lmdb/presence.js';

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
      return embeddedEngines(new MemoryBroker(), new MemoryInbox(inboxOptions), new MemoryPresenceStore());
    case 'journal':
    case 'lmdb': {
      mkdirSync(config.offline.path, { recursive: true });
      const durability = { path: config.offline.path, fsync: config.offline.fsync, commitWindowMs: config.offline.commitWindow };
      const inboxLog = log.child({ module: 'inbox' });
      const inbox = config.offline.engine === 'journal'
        ? await JournalInbox.open({ ...inboxOptions, ...durability, warn: (message, err) => inboxLog.warn({ err }, message) })
        : await LmdbInbox.open({ ...inboxOptions, ...durability });
      const presence = await LmdbPresenceStore.open({ path: config.offline.path });
      const history = await LmdbGroupHistory.open({ path: config.offline.path });
      return embeddedEngines(new MemoryBroker(), inbox, presence, history);
    }
    default:
      throw new Error(`unknown Offline.Engine ${String(config.offline.engine)}`);
  }
}
