import type { AppendOptions, AppendResult, Inbox, InboxEntry, NewInboxEntry } from '../engine/inbox.js';
import type { HistogramSeries, Metrics, Series } from '../metrics/registry.js';
import type { AckOut, Content, MessageOut } from '../protocol/frames.js';
import type { Hub } from './hub.js';
import type { Connection } from './connection.js';
import type { IdGenerator } from './ids.js';
import { KeyedQueue } from './keyed-queue.js';
import { liveMessageFrame } from './live-frame.js';
import { topics } from './topics.js';

/**
 * Tells whether a user has a connection that others may see as online (invisible users
 * do not count: a sender must not learn that they are there).
 */
export type VisibilityProbe = (userId: string) => Promise<boolean>;

/** Inbox entries sent per read during replay; bounds memory per syncing connection. */
export const REPLAY_PAGE = 200;

/** Send-buffer bytes up to which a replay keeps sending before it waits for a drain. */
export const DEFAULT_REPLAY_HIGH_WATER = 256 * 1024;

/**
 * Direct messages, broadcasts and the inbox protocol (acks, receipts, replay).
 * Group messages, with their rules and history, are in rooms.ts.
 *
 * Direct delivery contract: a message gets its per-user seq from the recipient's
 * inbox before it is published, and is durably appended before the sender is
 * acknowledged. With memory and LMDB inboxes the publish happens as soon as the seq is
 * assigned, while the append is still being written (see AppendOptions.onAssigned):
 * should that write fail, the recipient may have seen a message that the sender is
 * told failed (and resends), under a seq that is never reused. Everything addressed to one user goes through one queue on this
 * node, so its connections see seq in increasing order, live and replayed alike.
 * Delivery is at-least-once: a message stays in the inbox until the recipient
 * acknowledges it, and is replayed on every connect until then.
 */
export class Messaging {
  readonly #hub: Hub;
  readonly #inbox: Inbox;
  readonly #ids: IdGenerator;
  readonly #isVisible: VisibilityProbe;
  readonly #nodeId: string;
  readonly #dedupWindow: number;
  readonly #clock: () => number;
  readonly #queue = new KeyedQueue();
  /**
   * Per user, settles once every append published ahead of its write (see
   * #appendInOrder) has been written or has failed; no entry while none is.
   */
  readonly #writing = new Map<string, Promise<void>>();
  readonly #replayHighWater: number;
  readonly #stats: InboxStats | undefined;

  /**
   * `replayHighWater`: send-buffer bytes up to which the replay keeps sending (default
   * DEFAULT_REPLAY_HIGH_WATER; keep it well under Limits.MaxBackpressure).
   */
  constructor(deps: {
    hub: Hub;
    inbox: Inbox;
    ids: IdGenerator;
    isVisible: VisibilityProbe;
    nodeId: string;
    /** Limits.DedupWindow: how long a resend of a direct message is recognised (ms). */
    dedupWindow: number;
    clock?: () => number;
    replayHighWater?: number;
    metrics?: Metrics;
  }) {
    this.#hub = deps.hub;
    this.#inbox = deps.inbox;
    this.#ids = deps.ids;
    this.#isVisible = deps.isVisible;
    this.#nodeId = deps.nodeId;
    this.#dedupWindow = deps.dedupWindow;
    this.#clock = deps.clock ?? Date.now;
    this.#replayHighWater = deps.replayHighWater ?? DEFAULT_REPLAY_HIGH_WATER;
    this.#stats = deps.metrics === undefined ? undefined : inboxStats(deps.metrics);
  }

  /**
   * Stores and delivers a direct message from `from` to `to`. Resolves with the
   * sender's ack data `{mid, status, timestamp, seq, epoch}`.
   *
   * The message is appended to the recipient's inbox (which assigns seq within the
   * user's epoch) and published to the recipient's user topic whatever presence says
   * (a publish without subscribers costs nothing): as soon as the seq is assigned
   * (memory, LMDB), so delivery does not wait for the disk; the ack resolves only once
   * the append is durable. The status comes from that publish:
   * `delivered` when it reached a connection of the recipient and the recipient is
   * visible, `stored` otherwise, so an invisible user looks exactly like an offline one.
   * With an inbox that publishes itself (Redis), the append and the publish are one
   * atomic step, so the recipient's live frames leave in seq order cluster-wide.
   *
   * `resendKey` (the frame's id and fingerprint, see resends.ts): a resend within
   * Limits.DedupWindow appends and delivers nothing and is answered with the first
   * message's mid, seq and epoch (`duplicate: true`). The record is written atomically
   * with the append, so it holds across a crash and restart too.
   */
  async direct(from: string, to: string, content: Content, resendKey?: string): Promise<AckOut['data']> {
    const mid = this.#ids.next();
    const timestamp = this.#clock();
    const dedup = resendKey === undefined ? undefined : { key: `${from}\u0000${resendKey}`, ttlMs: this.#dedupWindow };
    const entry = { mid, from, to, content, timestamp };
    const step = await this.#queue.run(to, () => this.#appendInOrder(to, entry, dedup));
    let appended: AppendResult;
    try {
      appended = await step.appending;
    } catch (err) {
      // Not stored: the sender gets this error (and resends), whatever became of the
      // early publish; its outcome is settled here so it cannot go unhandled.
      if (step.early !== undefined) await Promise.allSettled([step.early]);
      throw err;
    }
    const { seq, epoch, dropped, duplicate } = appended;
    if (duplicate === undefined) this.#stats?.appended(performance.now() - step.startedAt, dropped);
    if (duplicate !== undefined) {
      return { mid: duplicate.mid, status: 'stored', timestamp: duplicate.timestamp, seq, epoch, duplicate: true };
    }
    const reached = step.publishedByInbox
      ? appended.receivers ?? 0
      : await (step.early ?? this.#hub.publish(topics.user(to), messageFrame(entry, seq, epoch)));
    if (reached > 0 && dropped > 0) await this.#reportDropped(to);
    const delivered = reached > 0 && (await this.#isVisible(to));
    return { mid, status: delivered ? 'delivered' : 'stored', timestamp, seq, epoch };
  }

  /**
   * The part of a direct message that runs in the recipient's queue: the append is
   * started and, when the engine hands out the seq at call time (memory, LMDB: see
   * AppendOptions.onAssigned), published at once; the queue moves on as soon as that
   * has happened, and the wait for the disk is the caller's. So appends to one user
   * (a busy recipient, pushes from the backend) share the inbox's commits instead of
   * waiting one commit each for the one before. Their order does not depend on that
   * wait: seqs are handed out, and published, in queue order. Replay, which reads only
   * what is written, waits for them first (see #writing).
   *
   * An engine that assigns no seq at call time (Redis, which publishes in the append
   * itself; or a duplicate, answered without one) is waited for inside the queue.
   */
  async #appendInOrder(to: string, entry: NewInboxEntry, dedup: AppendOptions['dedup']): Promise<AppendStep> {
    const live = this.#inbox.publishesLive ? liveMessageFrame(entry, this.#nodeId) : undefined;
    let early: Promise<number> | undefined;
    const onAssigned = live !== undefined ? undefined : (seq: number, epoch: string): void => {
      early = this.#hub.publish(topics.user(to), messageFrame(entry, seq, epoch));
    };
    const startedAt = performance.now();
    const appending = this.#inbox.append(to, entry, { ...(dedup ? { dedup } : {}), ...(live ? { live } : {}), ...(onAssigned ? { onAssigned } : {}) });
    if (early === undefined) {
      // Waited for here, in the queue; a rejection reaches the caller through `appending`.
      await appending.then(noop, noop);
      return { appending, early, publishedByInbox: live !== undefined, startedAt };
    }
    this.#trackWriting(to, appending);
    return { appending, early, publishedByInbox: false, startedAt };
  }

  /** Remembers an append still being written for `userId` until it settles (see #writing). */
  #trackWriting(userId: string, appending: Promise<AppendResult>): void {
    const before = this.#writing.get(userId);
    const settled = appending.then(noop, noop);
    const all = before === undefined ? settled : Promise.all([before, settled]).then(noop);
    this.#writing.set(userId, all);
    void all.then(() => {
      if (this.#writing.get(userId) === all) this.#writing.delete(userId);
    });
  }

  /** Fans a broadcast out to every connection of every node. */
  async broadcast(from: string, content: Content): Promise<AckOut['data']> {
    const mid = this.#ids.next();
    const timestamp = this.#clock();
    await this.#hub.publish(topics.all, { type: 'broadcast', data: { mid, from, content, timestamp } });
    return { mid, status: 'accepted', timestamp };
  }

  /**
   * Cumulative acknowledgement by the recipient: removes every inbox entry with
   * seq <= upTo and sends each one's sender a `receipt`. Returns how many were removed.
   */
  async ack(userId: string, upTo: number, epoch?: string): Promise<number> {
    const removed = await this.#inbox.ack(userId, upTo, epoch);
    const timestamp = this.#clock();
    if (this.#stats !== undefined) for (const entry of removed) this.#stats.acked(timestamp - entry.timestamp);
    // Issued together, not one round trip after another: each publish hands its frame
    // to uWS and to the broker synchronously, so receipts still leave in seq order.
    await Promise.all(removed.map((entry) => this.#hub.publish(topics.user(entry.from), {
      type: 'receipt',
      data: { mid: entry.mid, to: entry.to, status: 'delivered', timestamp },
    })));
    return removed.length;
  }

  /**
   * Sends the connection every unacknowledged message with seq > after, in order,
   * marked `offline: true`, then any loss report. Runs in the user's queue, so no
   * live message overtakes the replay on this node.
   *
   * Paced on the send buffer: frames go out while the socket holds at most
   * `replayHighWater` bytes, then the replay waits for the socket to drain, so a
   * large inbox never runs into the hard backpressure limit and a reader that stalls
   * for a moment is waited for (the slow-consumer policy still closes one that stays
   * stalled for WriteTimeout). It stops at the first refused send (the connection is
   * then ended by the hub) so nothing is ever delivered past a gap. Returns the number
   * of messages sent.
   */
  async replay(conn: Connection, after: number): Promise<number> {
    const userId = conn.principal.userId;
    return this.#queue.run(userId, async () => {
      // Messages already published to the user may still be being written: read after them.
      const writing = this.#writing.get(userId);
      if (writing !== undefined) await writing;
      const dropped = await this.#inbox.takeDropped(userId);
      if (dropped > 0) this.#hub.send(conn, { type: 'sync', data: { dropped } });
      let cursor = after;
      let sent = 0;
      for (;;) {
        if (conn.socket === undefined) break;
        const page = await this.#inbox.read(userId, cursor, REPLAY_PAGE);
        if (page.length === 0) break;
        for (const entry of page) {
          if (!(await this.#hub.whenWritable(conn, this.#replayHighWater))) return sent;
          if (!this.#hub.send(conn, replayFrame(entry))) return sent;
          sent += 1;
          if (this.#stats !== undefined) this.#stats.replayed.value += 1;
          cursor = entry.seq;
        }
        if (page.length < REPLAY_PAGE) break;
      }
      return sent;
    });
  }

  async #reportDropped(userId: string): Promise<void> {
    const dropped = await this.#inbox.takeDropped(userId);
    if (dropped > 0) await this.#hub.publish(topics.user(userId), { type: 'sync', data: { dropped } });
  }

  /** Resolves when every queued delivery, and every append it started, has settled (used at shutdown). */
  async idle(): Promise<void> {
    await this.#queue.idle();
    while (this.#writing.size > 0) await Promise.all(this.#writing.values());
  }
}

/** What a direct message's queued step hands back to it (see Messaging.#appendInOrder). */
interface AppendStep {
  /** Settles when the entry is durable (or the write failed). */
  appending: Promise<AppendResult>;
  /** The publish made as soon as the seq was assigned, if it was. */
  early: Promise<number> | undefined;
  /** The inbox published the live frame itself (Redis): its result says how far it went. */
  publishedByInbox: boolean;
  /** performance.now() when the append was called (the inbox_append_seconds histogram). */
  startedAt: number;
}

function noop(): void {}

/**
 * The live `message` frame of a direct message. A literal, not a spread of `entry`: one
 * object shape for every message frame (a spread's shape made msgpackr's encoding
 * several times slower per frame).
 */
function messageFrame(entry: NewInboxEntry, seq: number, epoch: string): MessageOut {
  return { type: 'message', data: { mid: entry.mid, from: entry.from, to: entry.to, content: entry.content, timestamp: entry.timestamp, seq, epoch } };
}

/** The inbox's metrics, resolved once. Durations are taken in milliseconds and recorded in seconds. */
interface InboxStats {
  appended(ms: number, dropped: number): void;
  acked(ms: number): void;
  readonly replayed: Series;
}

function inboxStats(metrics: Metrics): InboxStats {
  const stored = metrics.counterSeries('inbox_stored_total');
  const droppedTotal = metrics.counterSeries('inbox_dropped_total');
  const append: HistogramSeries = metrics.histogram('inbox_append_seconds');
  const ack: HistogramSeries = metrics.histogram('delivery_ack_seconds');
  return {
    appended(ms, dropped) {
      stored.value += 1;
      droppedTotal.value += dropped;
      append.observe(ms / 1000);
    },
    // A clock step backwards would give a negative age: count it as immediate.
    acked: (ms) => ack.observe(Math.max(0, ms) / 1000),
    replayed: metrics.counterSeries('inbox_replayed_total'),
  };
}

function replayFrame(entry: InboxEntry): MessageOut {
  return {
    type: 'message',
    data: { mid: entry.mid, from: entry.from, to: entry.to, content: entry.content, timestamp: entry.timestamp, seq: entry.seq, epoch: entry.epoch, offline: true },
  };
}
