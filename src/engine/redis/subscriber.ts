import { Redis, type Cluster } from 'ioredis';
import type { RedisConfig } from '../../config/types.js';
import type { Logger } from '../../log.js';
import { closeRedis, createRedis, errorText, type RedisHealth } from './connection.js';
import { keySlot } from './slot.js';

/**
 * The receiving side of the broker: dedicated subscriber connections that keep a
 * wanted set of channels and restore it by themselves after every reconnect (a Redis
 * restart forgets all subscriptions), so subscriptions survive outages. Messages
 * published while a connection is down are lost (the Broker contract is at-most-once).
 *
 * Type node uses SUBSCRIBE on one connection. Type cluster uses sharded pub/sub
 * (SSUBSCRIBE, Redis 7): a channel lives on the master that owns its hash slot, so
 * there is one subscriber connection per master that owns a wanted channel.
 *
 * Why not ioredis' own sharded subscribers (`shardedSubscribers: true`)? Verified
 * with the installed ioredis 6.0.0: they do resubscribe after a master restarts, but
 * while a master is down they recreate their subscriber and refresh the slot map in
 * a tight loop (hundreds of times a second, one CPU core at 100%). Here each
 * per-master connection reconnects with the capped backoff of createRedis instead.
 */

/** Delivers one message: channel and message exactly as Redis sent them. Must not block. */
export type RawHandler = (channel: Buffer, message: Buffer) => void;

export interface ChannelSubscriber {
  /** Adds `channel` to the wanted set. Resolves when Redis confirmed it or, when Redis is unreachable, at once (it is subscribed on reconnect). */
  add(channel: string): Promise<void>;
  /** Removes `channel` from the wanted set (and from Redis when connected). */
  remove(channel: string): Promise<void>;
  /** Drops every connection. */
  close(): Promise<void>;
}

/** Most channels in one SUBSCRIBE when restoring a large wanted set. */
const BATCH = 500;

/**
 * One dedicated connection and the channels it must be subscribed to. On every
 * 'ready' (the first connect and each reconnect) it subscribes the whole set again.
 */
class SubscriberConnection {
  readonly channels = new Set<string>();
  readonly #client: Redis;
  readonly #sharded: boolean;
  readonly #log: Logger;

  constructor(client: Redis, sharded: boolean, log: Logger, onMessage: RawHandler, onMoved?: () => void) {
    this.#client = client;
    this.#sharded = sharded;
    this.#log = log;
    client.on(sharded ? 'smessageBuffer' : 'messageBuffer', onMessage);
    client.on('ready', () => this.#restore());
    // ioredis emits 'moved' for an unsolicited SUNSUBSCRIBE (the slot migrated away).
    if (onMoved !== undefined) client.on('moved', onMoved);
  }

  get ready(): boolean {
    return this.#client.status === 'ready';
  }

  async add(channel: string): Promise<void> {
    this.channels.add(channel);
    // Known to be down: the 'ready' handler subscribes it on reconnect.
    if (!(await this.#usable())) return;
    if (!this.channels.has(channel)) return;
    await (this.#sharded ? this.#client.ssubscribe(channel) : this.#client.subscribe(channel));
  }

  /**
   * True when the connection is ready, after waiting out a connection attempt in
   * progress (a new connection), so that a resolved add() means subscribed; false at
   * once while it waits to reconnect (Redis known to be down).
   */
  async #usable(): Promise<boolean> {
    if (this.#client.status === 'ready') return true;
    return waitFor(this.#client, 'ready');
  }

  async remove(channel: string): Promise<void> {
    if (!this.channels.delete(channel) || !this.ready) return;
    await (this.#sharded ? this.#client.sunsubscribe(channel) : this.#client.unsubscribe(channel));
  }

  async close(): Promise<void> {
    this.channels.clear();
    await closeRedis(this.#client);
  }

  /** Subscribes the whole wanted set (a fresh connection, or Redis restarted and forgot it). */
  #restore(): void {
    const all = [...this.channels];
    if (all.length === 0) return;
    const fail = (err: unknown): void => {
      // The next reconnect restores again; a failure here usually means the connection just dropped.
      this.#log.warn({ err: errorText(err), channels: all.length }, 'redis resubscribe failed');
    };
    if (this.#sharded) {
      // SSUBSCRIBE takes channels of one slot only: one command per channel, pipelined.
      for (const channel of all) this.#client.ssubscribe(channel).catch(fail);
    } else {
      for (let i = 0; i < all.length; i += BATCH) this.#client.subscribe(...all.slice(i, i + BATCH)).catch(fail);
    }
    this.#log.info({ channels: all.length }, 'redis subscriptions restored');
  }
}

/** Type node: SUBSCRIBE on one dedicated connection. */
export class PlainSubscriber implements ChannelSubscriber {
  readonly #conn: SubscriberConnection;

  constructor(cfg: RedisConfig, log: Logger, onMessage: RawHandler, health?: RedisHealth) {
    const client = createRedis(cfg, 'subscriber', log, health === undefined ? {} : { health }) as Redis;
    this.#conn = new SubscriberConnection(client, false, log, onMessage);
  }

  add(channel: string): Promise<void> {
    return this.#conn.add(channel);
  }

  remove(channel: string): Promise<void> {
    return this.#conn.remove(channel);
  }

  close(): Promise<void> {
    return this.#conn.close();
  }
}

/**
 * Type cluster: SSUBSCRIBE, one dedicated connection per master that owns a wanted
 * channel. The slot map comes from `topology` (the broker's publishing cluster client,
 * which refreshes it periodically and on MOVED); on every refresh, channels whose
 * slot changed owner move to the new master's connection.
 */
export class ShardedSubscriber implements ChannelSubscriber {
  readonly #cfg: RedisConfig;
  readonly #log: Logger;
  readonly #health: RedisHealth | undefined;
  readonly #onMessage: RawHandler;
  readonly #topology: Cluster;
  /** Wanted channels → the node key ("host:port") whose connection holds them, or undefined while the slot map is unknown. */
  readonly #wanted = new Map<string, string | undefined>();
  readonly #nodes = new Map<string, SubscriberConnection>();
  readonly #onRefresh = (): void => this.#rebalance();
  #closed = false;

  constructor(cfg: RedisConfig, topology: Cluster, log: Logger, onMessage: RawHandler, health?: RedisHealth) {
    this.#cfg = cfg;
    this.#log = log;
    this.#health = health;
    this.#onMessage = onMessage;
    this.#topology = topology;
    topology.on('refresh', this.#onRefresh);
  }

  async add(channel: string): Promise<void> {
    if (this.#wanted.has(channel)) return;
    this.#wanted.set(channel, undefined);
    // Right after start-up the slot map is not loaded yet: wait for it rather than resolve unsubscribed.
    if (this.#owner(channel) === undefined) await waitFor(this.#topology, 'refresh');
    const owner = this.#owner(channel);
    // Removed meanwhile, or the map is still unknown (Redis down): the next refresh subscribes it.
    if (!this.#wanted.has(channel) || owner === undefined) return;
    this.#wanted.set(channel, owner);
    await this.#subscribeOn(owner, channel);
  }

  async remove(channel: string): Promise<void> {
    if (!this.#wanted.has(channel)) return;
    const node = this.#wanted.get(channel);
    this.#wanted.delete(channel);
    if (node !== undefined) await this.#nodes.get(node)?.remove(channel);
    this.#dropIdle();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#topology.off('refresh', this.#onRefresh);
    this.#wanted.clear();
    const nodes = [...this.#nodes.values()];
    this.#nodes.clear();
    await Promise.all(nodes.map((n) => n.close()));
  }

  /** The node key of the master owning the channel's slot, per the topology client's current map. */
  #owner(channel: string): string | undefined {
    return this.#topology.slots[keySlot(channel)]?.[0];
  }

  async #subscribeOn(node: string, channel: string): Promise<void> {
    let conn = this.#nodes.get(node);
    if (conn === undefined) {
      conn = this.#connect(node);
      this.#nodes.set(node, conn);
    }
    try {
      await conn.add(channel);
    } catch (err) {
      // MOVED: our slot map is stale; the refresh moves the channel to its owner.
      if (/^MOVED\b/.test(errorText(err))) {
        this.#topology.refreshSlotsCache();
        return;
      }
      throw err;
    }
  }

  #connect(node: string): SubscriberConnection {
    const sep = node.lastIndexOf(':');
    const endpoint = { host: node.slice(0, sep), port: Number(node.slice(sep + 1)) };
    // A plain connection to this master: SSUBSCRIBE works on any connection to the slot's owner.
    const cfg: RedisConfig = { ...this.#cfg, type: 'node', host: node, endpoints: [endpoint], db: 0 };
    const client = createRedis(cfg, `subscriber ${node}`, this.#log, this.#health === undefined ? {} : { health: this.#health }) as Redis;
    return new SubscriberConnection(client, true, this.#log.child({ node }), this.#onMessage, () => this.#topology.refreshSlotsCache());
  }

  /** After a slot map refresh: moves channels to their slot's current owner, subscribes channels that had no owner yet. */
  #rebalance(): void {
    if (this.#closed) return;
    for (const [channel, current] of this.#wanted) {
      const owner = this.#owner(channel);
      if (owner === undefined || owner === current) continue;
      this.#wanted.set(channel, owner);
      if (current !== undefined) {
        this.#nodes.get(current)?.remove(channel).catch((err: unknown) => this.#log.debug({ err: errorText(err) }, 'sunsubscribe on former owner failed'));
      }
      this.#subscribeOn(owner, channel).catch((err: unknown) => this.#log.warn({ err: errorText(err), node: owner }, 'ssubscribe after a slot move failed'));
    }
    this.#dropIdle();
  }

  /** Closes connections to masters that no longer hold any wanted channel. */
  #dropIdle(): void {
    for (const [node, conn] of this.#nodes) {
      if (conn.channels.size > 0) continue;
      this.#nodes.delete(node);
      conn.close().catch((err: unknown) => this.#log.debug({ err: errorText(err) }, 'closing idle subscriber failed'));
    }
  }
}

/**
 * While `client` is making a connection attempt, waits for `event` (true) or for the
 * attempt to fail (false); false at once when it is not connecting (down, waiting to
 * retry, or closed). Every attempt ends in one of those events (connectTimeout bounds it).
 */
function waitFor(client: Redis | Cluster, event: 'ready' | 'refresh'): Promise<boolean> {
  const status = client.status;
  if (status !== 'wait' && status !== 'connecting' && status !== 'connect') return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ok: boolean) => (): void => {
      client.off(event, onEvent);
      client.off('close', onClose);
      client.off('end', onClose);
      resolve(ok);
    };
    const onEvent = done(true);
    const onClose = done(false);
    client.once(event, onEvent);
    client.once('close', onClose);
    client.once('end', onClose);
  });
}
