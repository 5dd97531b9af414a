import type { Logger } from 'pino';
import type { RedisConfig } from '../../config.js';
import type { Engines } from '../../engines.js';
import type { InboxOptions } from '../inbox.js';

/** Cluster mode: every engine on Redis. Filled in once the Redis engines land. */
export async function createRedisEngines(_cfg: RedisConfig, _inbox: InboxOptions, _nodeId: string, _log: Logger): Promise<Engines> {
  throw new Error('Redis engines are not available yet');
}
