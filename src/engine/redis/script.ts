import { createHash } from 'node:crypto';
import { Cluster, type ChainableCommander, type Redis } from 'ioredis';
import type { Logger } from '../../log.js';
import { errorText, toRedisError, type RedisClient } from './connection.js';

type Arg = string | number | Buffer;

/**
 * A Lua script run with EVALSHA, falling back to EVAL when Redis does not know it
 * (first use, or after a restart flushed the script cache). A script is atomic: no
 * other command runs on that Redis (shard) while it runs. With a Redis Cluster every
 * key it names must hash to one slot, which the engines ensure with `{hash tags}`.
 */
export class LuaScript {
  readonly sha: string;

  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /** Runs the script; errors are mapped by toRedisError (connection trouble → UNAVAILABLE). */
  async run(client: RedisClient, keys: readonly string[], args: readonly Arg[]): Promise<unknown> {
    try {
      try {
        return await client.evalsha(this.sha, keys.length, ...keys, ...args);
      } catch (err) {
        if (!isNoScript(err)) throw err;
        return await client.eval(this.source, keys.length, ...keys, ...args);
      }
    } catch (err) {
      throw toRedisError(err);
    }
  }

  /** Same as run, with bulk strings returned as Buffers (for binary values). */
  async runBuffer(client: RedisClient, keys: readonly string[], args: readonly Arg[]): Promise<unknown> {
    try {
      try {
        return await client.callBuffer('EVALSHA', this.sha, keys.length, ...keys, ...args);
      } catch (err) {
        if (!isNoScript(err)) throw err;
        return await client.callBuffer('EVAL', this.source, keys.length, ...keys, ...args);
      }
    } catch (err) {
      throw toRedisError(err);
    }
  }

  /** Queues the script on a pipeline (EVALSHA; callers retry NOSCRIPT replies with `run`). */
  queue(pipeline: ChainableCommander, keys: readonly string[], args: readonly Arg[]): void {
    pipeline.evalsha(this.sha, keys.length, ...keys, ...args);
  }
}

/** True for Redis' "the script cache has no such script" reply. */
export function isNoScript(err: unknown): boolean {
  return /^NOSCRIPT\b/.test(errorText(err));
}

/**
 * Loads `scripts` into every Redis server `client` talks to, now and after every
 * (re)connect, so EVALSHA finds them. Why bother when `run` falls back to EVAL: the
 * fallback re-sends a command after its NOSCRIPT reply, so it could overtake calls
 * issued after it (a concurrent append overtaking an ack); with the scripts loaded on
 * connect, that can only happen in the moment a server restarts with an empty cache.
 * With a cluster the scripts go to each node as it joins the pool and on each of its
 * reconnects.
 */
export function preloadScripts(client: RedisClient, scripts: readonly LuaScript[], log?: Logger): () => void {
  const load = (conn: Redis): void => {
    for (const script of scripts) {
      conn.script('LOAD', script.source).catch((err: unknown) => log?.debug({ err: errorText(err) }, 'redis SCRIPT LOAD failed; EVAL fallback will load it'));
    }
  };
  const undo: (() => void)[] = [];
  const watch = (conn: Redis): void => {
    // A cluster node still connecting queues the LOAD ahead of any command sent to it.
    if (conn.status === 'ready' || conn.status === 'wait' || conn.status === 'connecting' || conn.status === 'connect') load(conn);
    const onReady = (): void => load(conn);
    conn.on('ready', onReady);
    undo.push(() => conn.off('ready', onReady));
  };
  if (client instanceof Cluster) {
    for (const node of client.nodes('all')) watch(node);
    client.on('+node', watch);
    undo.push(() => client.off('+node', watch));
  } else {
    watch(client);
  }
  /** Stops loading (the engine closed; the shared connection lives on). */
  return () => {
    for (const fn of undo.splice(0)) fn();
  };
}
