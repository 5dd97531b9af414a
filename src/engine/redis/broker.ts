import type { Cluster, Redis } from 'ioredis';
import type { RedisConfig } from '../../config/types.js';
import { GatewayError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Broker, BrokerHandler, BrokerMessage } from '../broker.js';
import { closeRedis, createRedis, errorText, toRedisError, type RedisClient, type RedisHealth } from './connection.js';
import { PlainSubscriber, ShardedSubscriber, type ChannelSubscriber } from './subscriber.js';

export interface RedisBrokerOptions {
  redis: RedisConfig;
  log: Logger;
  /** Tracks the broker's connections (publisher, subscriber(s)); see RedisHealth. */
  health?: RedisHealth;
}

/** Longest origin (node id) a message can carry: its length is one byte of the header. */
const MAX_ORIGIN_BYTES = 255;

/**
 * The cluster broker on Redis pub/sub. Channel = keyPrefix + topic, so two clusters
 * with different prefixes share one Redis without hearing each other.
 *
 * - Type node: PUBLISH / SUBSCRIBE. Type cluster: sharded pub/sub (SPUBLISH /
 *   SSUBSCRIBE, Redis 7): a topic's messages stay on the shard owning its slot.
 * - Two kinds of connection: one for publishing and a dedicated subscriber (a
 *   connection in subscribe mode can run nothing else); with type cluster, one
 *   subscriber connection per master that owns a subscribed topic.
 * - Wire format: one Buffer, [origin length: 1 byte][origin: UTF-8][payload], so a
 *   message is one Redis value and one copy.
 * - Ordering: one publishing connection per node and one shard per topic, so the
 *   messages one node publishes on one topic arrive in publish order.
 * - Outages: publish() rejects with UNAVAILABLE at once while the publisher is not
 *   connected (no queue builds up); the wanted topics are subscribed again after every
 *   reconnect; messages published while a subscriber was down are lost (at-most-once).
 * - A slow subscriber: Redis disconnects a subscriber whose output buffer exceeds
 *   `client-output-buffer-limit pubsub` (default 32mb hard, or 8mb for 60 s), losing
 *   what was buffered; the connection then reconnects and resubscribes (and logs it).
 *   To stay far from that limit the message path does no await and no I/O: it decodes
 *   the header and calls the handler synchronously (the hub fans out through uWS,
 *   which only buffers). Handlers must stay that cheap. Operators with very bursty
 *   traffic can raise the pubsub limit on the Redis side.
 */
export class RedisBroker implements Broker {
  readonly spansNodes = true;
  readonly #prefix: string;
  readonly #prefixBytes: Buffer;
  readonly #log: Logger;
  readonly #publisher: RedisClient;
  readonly #subscriber: ChannelSubscriber;
  readonly #sharded: boolean;
  readonly #topics = new Set<string>();
  #handler: BrokerHandler | undefined;
  #closed = false;

  constructor(options: RedisBrokerOptions) {
    const { redis, log, health } = options;
    if (typeof redis.keyPrefix !== 'string') throw new TypeError('redis.keyPrefix must be a string');
    this.#prefix = redis.keyPrefix;
    this.#prefixBytes = Buffer.from(redis.keyPrefix, 'utf8');
    this.#log = log.child({ module: 'redis-broker' });
    this.#sharded = redis.type === 'cluster';
    const extra = health === undefined ? {} : { health };
    this.#publisher = createRedis(redis, 'publisher', this.#log, extra);
    const onRaw = (channel: Buffer, message: Buffer): void => this.#receive(channel, message);
    this.#subscriber = this.#sharded
      ? new ShardedSubscriber(redis, this.#publisher as Cluster, this.#log, onRaw, health)
      : new PlainSubscriber(redis, this.#log, onRaw, health);
  }

  /** The publishing connection (for readiness checks in tests and start-up). */
  get publisher(): RedisClient {
    return this.#publisher;
  }

  async publish(message: BrokerMessage): Promise<number> {
    this.#open();
    const { topic, payload, origin } = message;
    checkTopic(topic);
    if (!(payload instanceof Uint8Array)) throw new TypeError('payload must be a Uint8Array');
    if (typeof origin !== 'string' || origin.length === 0) throw new TypeError('origin must be a non-empty string');
    const data = brokerEnvelope(origin, payload);
    if (this.#publisher.status !== 'ready') {
      throw new GatewayError('UNAVAILABLE', 'cluster broker temporarily unavailable');
    }
    const channel = this.#prefix + topic;
    try {
      // Both answer with the number of subscriber connections (one per subscribed node).
      if (this.#sharded) return Number(await (this.#publisher as Cluster).spublish(channel, data));
      return await (this.#publisher as Redis).publish(channel, data);
    } catch (err) {
      throw toRedisError(err);
    }
  }

  /**
   * Idempotent. Resolves once Redis confirmed the subscription, or at once while the
   * subscriber is disconnected (the topic is subscribed when it reconnects). Rejects
   * only when Redis refused the command; the topic stays wanted and is retried on the
   * next reconnect.
   */
  async subscribe(topic: string): Promise<void> {
    this.#open();
    checkTopic(topic);
    if (this.#topics.has(topic)) return;
    this.#topics.add(topic);
    try {
      await this.#subscriber.add(this.#prefix + topic);
    } catch (err) {
      throw toRedisError(err);
    }
  }

  /** Idempotent. */
  async unsubscribe(topic: string): Promise<void> {
    this.#open();
    checkTopic(topic);
    if (!this.#topics.delete(topic)) return;
    try {
      await this.#subscriber.remove(this.#prefix + topic);
    } catch (err) {
      // Not subscribed any more on our side; a stray message for it is dropped in #receive.
      this.#log.debug({ err: errorText(err) }, 'unsubscribe failed');
    }
  }

  onMessage(handler: BrokerHandler): void {
    this.#handler = handler;
  }

  /** Idempotent. Later calls reject. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#topics.clear();
    this.#handler = undefined;
    await this.#subscriber.close();
    await closeRedis(this.#publisher);
  }

  /** The hot path: synchronous, no allocation beyond the topic string and a view of the payload. */
  #receive(channel: Buffer, data: Buffer): void {
    const handler = this.#handler;
    if (handler === undefined) return;
    if (channel.length < this.#prefixBytes.length || !channel.subarray(0, this.#prefixBytes.length).equals(this.#prefixBytes)) return;
    const topic = channel.toString('utf8', this.#prefixBytes.length);
    // A message for a topic just unsubscribed can still be in flight: drop it.
    if (!this.#topics.has(topic)) return;
    if (data.length < 1 || data.length < 1 + data[0]!) {
      this.#log.warn({ topic, bytes: data.length }, 'malformed broker message dropped');
      return;
    }
    const originLength = data[0]!;
    const origin = data.toString('utf8', 1, 1 + originLength);
    const payload = data.subarray(1 + originLength);
    try {
      handler({ topic, payload, origin });
    } catch (err) {
      // One failing delivery must not stop the stream for every other topic.
      this.#log.error({ topic, err: errorText(err) }, 'broker message handler threw');
    }
  }

  #open(): void {
    if (this.#closed) throw new Error('broker is closed');
  }
}

/**
 * The one Redis value a broker message travels as: [origin length: 1 byte][origin:
 * UTF-8][payload]. Shared with RedisInbox, which publishes live frames from its append
 * script and must be read by every RedisBroker exactly like a broker message. Throws a
 * RangeError for an origin longer than 255 bytes.
 */
export function brokerEnvelope(origin: string, payload: Uint8Array): Buffer {
  const originBytes = Buffer.from(origin, 'utf8');
  if (originBytes.length > MAX_ORIGIN_BYTES) throw new RangeError(`origin must be at most ${MAX_ORIGIN_BYTES} bytes`);
  const data = Buffer.allocUnsafe(1 + originBytes.length + payload.length);
  data[0] = originBytes.length;
  originBytes.copy(data, 1);
  data.set(payload, 1 + originBytes.length);
  return data;
}

function checkTopic(topic: unknown): asserts topic is string {
  if (typeof topic !== 'string' || topic.length === 0) throw new TypeError('topic must be a non-empty string');
}
