import type { RedisConfig } from '../../src/config/types.js';
import { closeRedis, createRedis, waitReady, type RedisClient } from '../../src/engine/redis/connection.js';
import { createLogger, type Logger } from '../../src/log.js';
import type { RedisClusterHandle, RedisServer } from '../helpers/redis.js';

/** Shared set-up of the Redis engine tests (not a test file itself). */

export const quietLog: Logger = createLogger((process.env['SB_TEST_LOG'] ?? 'silent') as 'silent');

let prefixes = 0;
/** A key prefix no other fixture of this process uses, so fixtures share one Redis without interfering. */
export function uniquePrefix(tag = 't'): string {
  prefixes += 1;
  return `sbt:${tag}${prefixes}:${process.pid}:`;
}

export function nodeConfig(server: RedisServer, keyPrefix = uniquePrefix()): RedisConfig {
  return { host: server.address, endpoints: [{ host: server.host, port: server.port }], type: 'node', password: undefined, db: 0, keyPrefix };
}

export function clusterConfig(cluster: RedisClusterHandle, keyPrefix = uniquePrefix()): RedisConfig {
  return {
    host: cluster.address,
    endpoints: cluster.nodes.map((n) => ({ host: n.host, port: n.port })),
    type: 'cluster',
    password: undefined,
    db: 0,
    keyPrefix,
  };
}

/** A ready command connection, closed at teardown. */
export async function readyClient(t: { teardown(fn: () => unknown): void }, cfg: RedisConfig, role = 'commands'): Promise<RedisClient> {
  const client = createRedis(cfg, role, quietLog);
  t.teardown(() => closeRedis(client));
  await waitReady(client);
  return client;
}

/** Resolves when `check` returns true, polling every `everyMs`; rejects after `timeoutMs` with `what`. */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5_000, everyMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
