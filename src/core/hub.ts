import type { TemplatedApp } from 'uWebSockets.js';
import type { Logger } from 'pino';
import type { Broker, BrokerMessage } from '../engine/broker.js';
import { FORMATS, type KickOut, type ServerFrame } from '../protocol/frames.js';
import { EncodedFrame, encodeFrame } from '../protocol/codec.js';
import type { Connection } from './connection.js';
import { formatTopic, logicalTopic, topics } from './topics.js';

/**
 * The registry of this node's connections (by id and by user) and the fan-out of
 * frames to logical topics.
 *
 * Fan-out contract: `publish` encodes a frame at most once per wire format, hands
 * each encoding to uWS with `app.publish` (native fan-out, no per-socket loop), and
 * forwards the MessagePack encoding to the broker for the other nodes. Frames
 * published on one topic by this node reach each local subscriber in publish order.
 *
 * Broker subscriptions follow local interest: a logical topic is subscribed on the
 * broker when its first local socket subscribes (in any format) and unsubscribed
 * when its last one leaves; uWS's `subscription` callback drives the counts.
 */
export class Hub {
  readonly #byId = new Map<string, Connection>();
  readonly #byUser = new Map<string, Set<Connection>>();
  /** Local subscriber count per logical topic, summed over formats. */
  readonly #interest = new Map<string, number>();
  /** Observers of a logical topic's local fan-out (group recovery buffers live frames with them). */
  readonly #taps = new Map<string, Set<(frame: ServerFrame) => void>>();
  readonly #app: TemplatedApp;
  readonly #broker: Broker;
  readonly #nodeId: string;
  readonly #log: Logger;

  constructor(deps: { app: TemplatedApp; broker: Broker; nodeId: string; log: Logger }) {
    this.#app = deps.app;
    this.#broker = deps.broker;
    this.#nodeId = deps.nodeId;
    this.#log = deps.log;
    this.#broker.onMessage((message) => this.#fromBroker(message));
  }

  get size(): number {
    return this.#byId.size;
  }

  get(connId: string): Connection | undefined {
    return this.#byId.get(connId);
  }

  connections(): IterableIterator<Connection> {
    return this.#byId.values();
  }

  /** This node's connections of one user, oldest first. */
  userConnections(userId: string): readonly Connection[] {
    const set = this.#byUser.get(userId);
    return set === undefined ? [] : [...set];
  }

  userConnectionCount(userId: string): number {
    return this.#byUser.get(userId)?.size ?? 0;
  }

  /** Registers an open connection and subscribes it to its user topic and global broadcast. */
  add(conn: Connection): void {
    this.#byId.set(conn.id, conn);
    let set = this.#byUser.get(conn.principal.userId);
    if (set === undefined) {
      set = new Set();
      this.#byUser.set(conn.principal.userId, set);
    }
    set.add(conn);
    this.subscribe(conn, topics.user(conn.principal.userId));
    this.subscribe(conn, topics.all);
  }

  /** Forgets a closed connection. uWS drops its topic subscriptions itself. Returns the user's remaining local count. */
  remove(conn: Connection): number {
    if (!this.#byId.delete(conn.id)) return this.userConnectionCount(conn.principal.userId);
    const set = this.#byUser.get(conn.principal.userId);
    set?.delete(conn);
    if (set !== undefined && set.size === 0) this.#byUser.delete(conn.principal.userId);
    return set?.size ?? 0;
  }

  subscribe(conn: Connection, logical: string): void {
    conn.socket?.subscribe(formatTopic(logical, conn.format));
  }

  unsubscribe(conn: Connection, logical: string): void {
    conn.socket?.unsubscribe(formatTopic(logical, conn.format));
  }

  /** Local subscribers of a logical topic on this node (all formats). */
  localSubscribers(logical: string): number {
    return this.#interest.get(logical) ?? 0;
  }

  /**
   * Fans a frame out to every subscriber of `logical`, here and on other nodes.
   * Rejects only when the broker could not take the message for other nodes; local
   * delivery has happened by then.
   */
  async publish(logical: string, frame: ServerFrame): Promise<void> {
    const encoded = new EncodedFrame(frame);
    this.#publishLocal(logical, encoded);
    if (this.#broker.spansNodes) {
      await this.#broker.publish({ topic: logical, payload: encoded.get('msgpack').bytes, origin: this.#nodeId });
    }
  }

  /** Sends a frame to one connection only (replies, errors, inbox replay). */
  send(conn: Connection, frame: ServerFrame): boolean {
    const socket = conn.socket;
    if (socket === undefined) return false;
    const { bytes, binary } = encodeFrame(frame, conn.format);
    return socket.send(bytes, binary) !== 2;
  }

  /**
   * Calls `observer` with every frame fanned out on `logical` on this node (published
   * here or received from the broker), synchronously, until the returned function is
   * called. Lets a caller see live frames for a connection it has not subscribed yet.
   */
  tap(logical: string, observer: (frame: ServerFrame) => void): () => void {
    let set = this.#taps.get(logical);
    if (set === undefined) {
      set = new Set();
      this.#taps.set(logical, set);
    }
    set.add(observer);
    return () => {
      set.delete(observer);
      if (set.size === 0 && this.#taps.get(logical) === set) this.#taps.delete(logical);
    };
  }

  /**
   * Holds this node's interest in `logical` as a subscriber would, and resolves once
   * the broker subscription is in place (so frames other nodes publish from now on
   * reach this node). The returned function lets go.
   */
  async retain(logical: string): Promise<() => void> {
    const before = this.#interest.get(logical) ?? 0;
    this.#interest.set(logical, before + 1);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.#addInterest(logical, -1);
    };
    try {
      // Asked even when others hold the topic: their subscribe may still be in flight, and it is idempotent.
      if (this.#broker.spansNodes) await this.#broker.subscribe(logical);
    } catch (err) {
      release();
      throw err;
    }
    return release;
  }

  #publishLocal(logical: string, encoded: EncodedFrame): void {
    const taps = this.#taps.get(logical);
    if (taps !== undefined) for (const observer of taps) observer(encoded.frame);
    for (const format of FORMATS) {
      const topic = formatTopic(logical, format);
      if (this.#app.numSubscribers(topic) === 0) continue;
      const { bytes, binary } = encoded.get(format);
      this.#app.publish(topic, bytes, binary);
    }
  }

  /** This node's control topic: other nodes address it to act on connections it owns. */
  get controlTopic(): string {
    return topics.node(this.#nodeId);
  }

  /** Subscribes the broker to this node's control topic (before any connection is accepted). */
  async start(): Promise<void> {
    await this.#broker.subscribe(this.controlTopic);
  }

  /**
   * Closes connection `connId` wherever it lives: here directly, on another node by a
   * kick frame on that node's control topic.
   */
  async kick(connId: string, nodeId: string, code: number, reason: string): Promise<void> {
    if (nodeId === this.#nodeId) {
      this.#byId.get(connId)?.socket?.end(code, reason);
      return;
    }
    const frame: KickOut = { type: 'kick', data: { connId, code, reason } };
    await this.#broker.publish({ topic: topics.node(nodeId), payload: new EncodedFrame(frame).get('msgpack').bytes, origin: this.#nodeId });
  }

  #fromBroker(message: BrokerMessage): void {
    if (message.origin === this.#nodeId) return;
    if (message.topic === this.controlTopic) {
      this.#control(message);
      return;
    }
    let encoded: EncodedFrame;
    try {
      // Reuses the received bytes as the MessagePack encoding: no re-encode per node.
      encoded = EncodedFrame.fromMsgpack(message.payload);
    } catch (err) {
      this.#log.error({ err, topic: message.topic }, 'dropping undecodable frame from broker');
      return;
    }
    this.#publishLocal(message.topic, encoded);
  }

  #control(message: BrokerMessage): void {
    let frame: ServerFrame;
    try {
      frame = EncodedFrame.fromMsgpack(message.payload).frame;
    } catch (err) {
      this.#log.error({ err, origin: message.origin }, 'dropping undecodable control frame');
      return;
    }
    if (frame.type === 'kick') {
      this.#byId.get(frame.data.connId)?.socket?.end(frame.data.code, frame.data.reason);
    } else {
      this.#log.warn({ type: frame.type, origin: message.origin }, 'ignoring unexpected control frame');
    }
  }

  /** Wired to uWS's `subscription` handler: keeps broker subscriptions in step with local interest. */
  onSubscription(formatTopicName: string, newCount: number, oldCount: number): void {
    this.#addInterest(logicalTopic(formatTopicName), newCount - oldCount);
  }

  #addInterest(logical: string, delta: number): void {
    const before = this.#interest.get(logical) ?? 0;
    const after = before + delta;
    if (after > 0) this.#interest.set(logical, after);
    else this.#interest.delete(logical);
    if (before === 0 && after > 0) {
      this.#broker.subscribe(logical).catch((err: unknown) => this.#log.error({ err, topic: logical }, 'broker subscribe failed'));
    } else if (before > 0 && after === 0) {
      this.#broker.unsubscribe(logical).catch((err: unknown) => this.#log.error({ err, topic: logical }, 'broker unsubscribe failed'));
    }
  }
}
