import type { Logger } from 'pino';
import type { Broker, BrokerMessage } from '../engine/broker.js';
import { CLOSE } from '../errors.js';
import { FORMATS, type ControlOut, type KickOut, type ServerFrame } from '../protocol/frames.js';
import type { Metrics, Series } from '../metrics/registry.js';
import { EncodedFrame, encodeFrame } from '../protocol/codec.js';
import type { Connection } from './connection.js';
import { ConnectionRegistry } from './connection-registry.js';
import { CONFIRMED, TopicInterest } from './interest.js';
import { WritableWaiters } from './writable.js';
import { formatTopic, isUserTopic, topics, userOfTopic } from './topics.js';
import { largestGroups, localGroupCount, watchCount } from './topic-stats.js';

/**
 * Node-local topic fan-out: uWS's TemplatedApp is one (native `publish` to every socket
 * subscribed to a topic); tests use an in-memory one over fake sockets.
 */
export interface Fanout {
  publish(topic: string, bytes: Uint8Array | string, binary: boolean): unknown;
  numSubscribers(topic: string): number;
}

/** Default delay before the broker drops a topic whose last local subscriber left (ms). */
export const UNSUBSCRIBE_LINGER_MS = 2000;

/**
 * The registry of this node's connections (by id and by user) and the fan-out of
 * frames to logical topics.
 *
 * Fan-out contract: `publish` encodes a frame at most once per wire format, hands
 * each encoding to the node's Fanout (uWS `app.publish`: native fan-out, no per-socket
 * loop), and forwards the MessagePack encoding to the broker for the other nodes.
 * Frames published on one topic by this node reach each local subscriber in publish
 * order.
 *
 * Broker subscriptions follow local interest, which the hub counts itself (see
 * TopicInterest) from `subscribe`, `unsubscribe` and `remove`: `subscribe` resolves
 * only once the topic's broker subscription is active.
 *
 * Memory: with a broker that spans no nodes (a single node), user topics are not
 * counted in TopicInterest. No broker subscription has to follow them, and the
 * registry already counts each user's connections, so a count per connected user
 * would cost a map entry and a topic string each (about 80 bytes) for nothing;
 * `localSubscribers` answers for them from the registry.
 */
export class Hub {
  readonly #conns = new ConnectionRegistry();
  /** Senders waiting for room in a connection's send buffer (see whenWritable). */
  readonly #writable = new WritableWaiters();
  /** Local interest per logical topic, and the broker subscriptions that follow it. */
  readonly #interest: TopicInterest;
  readonly #fanout: Fanout;
  #observer: ((logical: string, frame: ServerFrame) => void) | undefined;
  /** Observers of a logical topic's local fan-out (group recovery buffers live frames with them). */
  readonly #taps = new Map<string, Set<(frame: ServerFrame) => void>>();
  readonly #broker: Broker;
  /** False on a broker that spans no nodes: user topics are then left out of #interest (see the class comment). */
  readonly #countsUserTopics: boolean;
  readonly #nodeId: string;
  readonly #log: Logger;
  readonly #metrics: Metrics | undefined;
  /** Series resolved once: sending a frame costs additions, no lookup. Undefined without metrics. */
  readonly #out: { frames: Series; bytes: Series; publishFailures: Series; rateLimited: Series } | undefined;
  #onControl: ((frame: ControlOut) => void) | undefined;

  /**
   * `lingerMs` defaults to UNSUBSCRIBE_LINGER_MS (ignored when the broker spans no
   * nodes); `now` is a monotonic clock in ms (default performance.now).
   */
  constructor(deps: { fanout: Fanout; broker: Broker; nodeId: string; log: Logger; lingerMs?: number; now?: () => number; metrics?: Metrics }) {
    this.#fanout = deps.fanout;
    this.#broker = deps.broker;
    this.#countsUserTopics = deps.broker.spansNodes;
    this.#nodeId = deps.nodeId;
    this.#log = deps.log;
    // Subscribing costs nothing on a broker that spans no nodes: no reason to linger there.
    const lingerMs = deps.broker.spansNodes ? (deps.lingerMs ?? UNSUBSCRIBE_LINGER_MS) : 0;
    this.#interest = new TopicInterest(deps.broker, deps.log, lingerMs, deps.now ?? (() => performance.now()));
    this.#metrics = deps.metrics;
    this.#out = deps.metrics === undefined ? undefined : {
      frames: deps.metrics.counterSeries('frames_out_total'),
      bytes: deps.metrics.counterSeries('bytes_out_total'),
      publishFailures: deps.metrics.counterSeries('broker_publish_failures_total'),
      rateLimited: deps.metrics.counter('rate_limited_total', 'frame'),
    };
    this.#broker.onMessage((message) => this.#fromBroker(message));
  }

  get size(): number {
    return this.#conns.size;
  }

  get(connId: string): Connection | undefined {
    return this.#conns.get(connId);
  }

  connections(): IterableIterator<Connection> {
    return this.#conns.values();
  }

  /** This node's connections of one user, oldest first. */
  userConnections(userId: string): readonly Connection[] {
    return this.#conns.ofUser(userId);
  }

  /** Users with at least one connection on this node. */
  get userCount(): number {
    return this.#conns.userCount;
  }

  /** Groups with at least one member connection on this node (see topic-stats.ts). */
  localGroupCount(): number {
    return localGroupCount(this.#interest.entries());
  }

  /** The `limit` groups with the most member connections on this node (see topic-stats.ts). */
  largestGroups(limit: number): { group: string; connections: number }[] {
    return largestGroups(this.#interest.entries(), limit);
  }

  /** Presence watch subscriptions held by this node's connections (see topic-stats.ts). */
  watchCount(): number {
    return watchCount(this.#interest.entries());
  }

  userConnectionCount(userId: string): number {
    return this.#conns.countOfUser(userId);
  }

  /**
   * Registers an open connection and subscribes it to its user topic and global
   * broadcast. Resolves when both are confirmed on the broker (see the class comment);
   * rejects with UNAVAILABLE when the broker refused, and the caller closes the connection.
   */
  add(conn: Connection): Promise<void> {
    this.#conns.add(conn);
    const user = this.subscribe(conn, topics.user(conn.principal.userId));
    const all = this.subscribe(conn, topics.all);
    return user === CONFIRMED && all === CONFIRMED ? CONFIRMED : Promise.all([user, all]).then(noop);
  }

  /**
   * Forgets a closed connection (its `socket` already cleared) and drops its interest
   * in every topic it was subscribed to: its user topic, broadcast, its groups and the
   * users it watches (uWS drops the socket's own subscriptions itself). Returns the
   * user's remaining local count.
   */
  remove(conn: Connection): number {
    this.#writable.closed(conn);
    const userId = conn.principal.userId;
    if (!this.#conns.delete(conn)) return this.#conns.countOfUser(userId);
    this.#drop(topics.user(userId));
    this.#drop(topics.all);
    for (const group of conn.groups) this.#drop(topics.group(group));
    for (const user of conn.watching) this.#drop(topics.presence(user));
    return this.#conns.countOfUser(userId);
  }

  /**
   * Subscribes an open connection to a logical topic. Callers subscribe a connection
   * to a topic at most once (they keep the set: `groups`, `watching`) and record the
   * topic there before calling, so that `remove` can account for it. Resolves when
   * the broker subscription is active; a connection that is not open is ignored.
   */
  subscribe(conn: Connection, logical: string): Promise<void> {
    const socket = conn.socket;
    if (socket === undefined || conn.phase !== 'open') return CONFIRMED;
    socket.subscribe(formatTopic(logical, conn.format));
    return this.#uncounted(logical) ? CONFIRMED : this.#interest.add(logical);
  }

  /** Undoes one `subscribe`. Ignored once the connection closed: `remove` accounted for it. */
  unsubscribe(conn: Connection, logical: string): void {
    const socket = conn.socket;
    if (socket === undefined || conn.phase !== 'open') return;
    socket.unsubscribe(formatTopic(logical, conn.format));
    this.#drop(logical);
  }

  /** True for a topic left out of #interest: a user topic on a broker that spans no nodes (see the class comment). */
  #uncounted(logical: string): boolean {
    return !this.#countsUserTopics && isUserTopic(logical);
  }

  /** One local subscriber of `logical` fewer, for a topic #interest counts. */
  #drop(logical: string): void {
    if (!this.#uncounted(logical)) this.#interest.drop(logical);
  }

  /** Local subscribers of a logical topic on this node (all formats). */
  localSubscribers(logical: string): number {
    // Every connection of the user subscribes its user topic (add), so the registry's count is the subscriber count.
    if (this.#uncounted(logical)) return this.#conns.countOfUser(userOfTopic(logical)!);
    return this.#interest.count(logical);
  }

  /**
   * Fans a frame out to every subscriber of `logical`, here and on other nodes.
   * Rejects only when the broker could not take the message for other nodes; local
   * delivery has happened by then. Resolves with how far it went: the local sockets it
   * was handed to plus the other nodes the broker handed it to (this node's own broker
   * subscription not counted). 0 means nobody was subscribed anywhere.
   */
  async publish(logical: string, frame: ServerFrame): Promise<number> {
    const encoded = new EncodedFrame(frame);
    const local = this.#publishLocal(logical, encoded);
    if (!this.#broker.spansNodes) return local;
    const nodes = await this.#broker.publish({ topic: logical, payload: encoded.get('msgpack').bytes, origin: this.#nodeId }).catch(this.#publishFailed);
    const self = this.#interest.held(logical) ? 1 : 0;
    return local + Math.max(0, nodes - self);
  }

  readonly #publishFailed = (err: unknown): never => {
    if (this.#out !== undefined) this.#out.publishFailures.value += 1;
    throw err;
  };

  /**
   * Sends a frame to one connection only (replies, errors, inbox replay). False when
   * the connection is gone or its socket refused the frame (see ClientSocket.send). A
   * refused frame is lost, and everything sent after it would arrive past a gap, so the
   * connection is ended (4000): the client reconnects and the inbox replays from its
   * last ack.
   */
  send(conn: Connection, frame: ServerFrame): boolean {
    const socket = conn.socket;
    if (socket === undefined) return false;
    const { bytes, binary } = encodeFrame(frame, conn.format);
    const out = this.#out;
    // Every error frame a client gets is a refusal: counted here once, whoever refused.
    if (out !== undefined && frame.type === 'error') {
      this.#metrics!.counter('frames_rejected_total', frame.data.code).value += 1;
      if (frame.data.code === 'RATE_LIMITED') out.rateLimited.value += 1;
    }
    if (socket.send(bytes, binary)) {
      if (out !== undefined) {
        out.frames.value += 1;
        out.bytes.value += bytes.length;
      }
      return true;
    }
    // The socket may have closed itself while refusing (uWS closeOnBackpressureLimit).
    if (conn.socket !== undefined) {
      this.#log.warn({ connId: conn.id }, 'send refused: ending the connection so nothing is delivered past a gap');
      conn.socket.end(CLOSE.SLOW_CONSUMER, 'send buffer full');
    }
    return false;
  }

  /**
   * Resolves true once the connection's send buffer holds at most `highWater` bytes
   * (at once if it does already), false when the connection closes first. Paced
   * senders (the inbox replay) wait on it instead of filling the buffer to its hard limit.
   */
  whenWritable(conn: Connection, highWater: number): Promise<boolean> {
    return this.#writable.when(conn, highWater);
  }

  /** The connection's send buffer drained (uWS `drain`): wakes the senders it now has room for. */
  drained(conn: Connection): void {
    this.#writable.drained(conn);
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
   * the broker subscription is active (so frames other nodes publish from now on reach
   * this node). The returned function lets go (once).
   */
  async retain(logical: string): Promise<() => void> {
    // An uncounted user topic (single node): there is no broker subscription to hold.
    if (this.#uncounted(logical)) return noop;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.#interest.drop(logical);
    };
    try {
      await this.#interest.add(logical);
    } catch (err) {
      release();
      throw err;
    }
    return release;
  }

  /**
   * Registers the one observer of every frame fanned out on this node (published here
   * or received from the broker), called synchronously with its logical topic. Must be
   * cheap: it runs on the fan-out path.
   */
  observe(observer: (logical: string, frame: ServerFrame) => void): void {
    this.#observer = observer;
  }

  /** Fans a frame out to this node's subscribers only (a frame the broker failed to bring). */
  publishHere(logical: string, frame: ServerFrame): number {
    return this.#publishLocal(logical, new EncodedFrame(frame));
  }

  /** Hands the frame to every local subscriber of `logical`; returns how many sockets that was. */
  #publishLocal(logical: string, encoded: EncodedFrame): number {
    this.#observer?.(logical, encoded.frame);
    const taps = this.#taps.get(logical);
    if (taps !== undefined) for (const observer of taps) observer(encoded.frame);
    // Every socket subscription is counted by subscribe(): none counted, no socket to reach
    // (an unwatched presence announce, a message to an offline user), no native calls.
    // Uncounted user topics (single node) ask uWS instead.
    if (!this.#uncounted(logical) && this.#interest.count(logical) === 0) return 0;
    let reached = 0;
    for (const format of FORMATS) {
      const topic = formatTopic(logical, format);
      const subscribers = this.#fanout.numSubscribers(topic);
      if (subscribers === 0) continue;
      reached += subscribers;
      const { bytes, binary } = encoded.get(format);
      const out = this.#out;
      if (out !== undefined) {
        out.frames.value += subscribers;
        out.bytes.value += subscribers * bytes.length;
      }
      this.#fanout.publish(topic, bytes, binary);
    }
    return reached;
  }

  /** This node's control topic: other nodes address it to act on connections it owns. */
  get controlTopic(): string {
    return topics.node(this.#nodeId);
  }

  /** Subscribes the broker to this node's control topic and the cluster's (before any connection is accepted). */
  async start(): Promise<void> {
    await this.#broker.subscribe(this.controlTopic);
    await this.#broker.subscribe(topics.cluster);
  }

  /** Registers the single handler of cluster control frames sent by other nodes (see publishControl). */
  onControl(handler: (frame: ControlOut) => void): void {
    this.#onControl = handler;
  }

  /**
   * Sends a control frame to every other node (a no-op on a single node); the caller
   * applies it to this node itself. Never reaches a client socket: the control topic is
   * handled before fan-out and is no uWS topic.
   */
  async publishControl(frame: ControlOut): Promise<void> {
    if (!this.#broker.spansNodes) return;
    await this.#broker.publish({ topic: topics.cluster, payload: new EncodedFrame(frame).get('msgpack').bytes, origin: this.#nodeId }).catch(this.#publishFailed);
  }

  /**
   * Closes connection `connId` wherever it lives: here directly, on another node by a
   * kick frame on that node's control topic.
   */
  async kick(connId: string, nodeId: string, code: number, reason: string): Promise<void> {
    if (nodeId === this.#nodeId) {
      this.#conns.get(connId)?.socket?.end(code, reason);
      return;
    }
    const frame: KickOut = { type: 'kick', data: { connId, code, reason } };
    await this.#broker.publish({ topic: topics.node(nodeId), payload: new EncodedFrame(frame).get('msgpack').bytes, origin: this.#nodeId });
  }

  #fromBroker(message: BrokerMessage): void {
    if (message.origin === this.#nodeId) return;
    if (message.topic === this.controlTopic || message.topic === topics.cluster) {
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
      this.#conns.get(frame.data.connId)?.socket?.end(frame.data.code, frame.data.reason);
    } else if (frame.type === 'control' && this.#onControl !== undefined) {
      this.#onControl(frame);
    } else {
      this.#log.warn({ type: frame.type, origin: message.origin }, 'ignoring unexpected control frame');
    }
  }

  /** Unsubscribes the broker from every lingering topic whose deadline passed (tests; a timer does it otherwise). */
  endLingering(now?: number): void {
    this.#interest.endLingering(now);
  }

  /** Ends every lingering broker subscription now and stops the timer (shutdown). */
  stop(): void {
    this.#interest.endLingering(Number.POSITIVE_INFINITY);
  }
}

function noop(): void {}
