import type { GroupHistory, HistoryEntry } from '../engine/history.js';
import type { GroupOut, ServerFrame, StreamPosition } from '../protocol/frames.js';
import type { Connection } from './connection.js';
import type { Hub } from './hub.js';
import { topics } from './topics.js';

/** History entries read per round trip while recovering. */
export const RECOVERY_PAGE = 500;
/**
 * Most messages one join may recover. A client further behind than this is told
 * `recovered: false` and reloads state, which is cheaper than a replay this long.
 */
export const MAX_RECOVERED = 10_000;

/** The group frame of a history entry. */
export function historyFrame(group: string, epoch: string, entry: HistoryEntry, recovered: boolean): GroupOut {
  const data: GroupOut['data'] = {
    mid: entry.mid, from: entry.from, group, content: entry.content, timestamp: entry.timestamp, offset: entry.offset, epoch,
  };
  if (entry.important === true) data.important = true;
  if (recovered) data.recovered = true;
  return { type: 'group', data };
}

export interface RecoveryResult {
  recovered: boolean;
  /** The position the client is at once the replay is sent (the group's top at the read). */
  position: StreamPosition;
  /** How many messages were replayed. */
  count: number;
}

/**
 * Subscribes a connection to a group and, when `since` is given, replays what it
 * missed, with no gap and no duplicate against live traffic:
 *
 *  1. tap the group's local fan-out, buffering every live frame for this connection,
 *     and hold the node's broker subscription (awaited), so frames published
 *     anywhere from now on are seen;
 *  2. read history after `since.offset` (paged), checking that it is one unbroken run
 *     of offsets starting right after it, in the same epoch;
 *  3. wait for this node's publishes of the group that were already under way (their
 *     appends may be in what was read, their fan-out not yet done: `inOrder`), then,
 *     in one synchronous step (one corked write): send the ack, the recovered messages
 *     (`recovered: true`), then the buffered live frames minus those already replayed
 *     (same epoch, offset <= the last replayed), then subscribe the socket and drop
 *     the tap. No frame can arrive between these, so nothing is lost or doubled.
 *
 * Across nodes one window remains: a message appended on another node before the
 * read whose broker copy arrives here only after step 3 reaches the member twice
 * (never zero times). Its offset is <= the one the ack reports, so a client that
 * drops group frames with an offset it has already processed (same epoch) sees each
 * message once; docs/protocol.md asks clients to do so.
 *
 * `since.offset` 0 means "nothing seen": any epoch is then fine, and recovery succeeds
 * when the history still starts at offset 1.
 */
export class Recovery {
  readonly #hub: Hub;
  readonly #history: GroupHistory;
  readonly #inOrder: (group: string, task: () => Promise<void>) => Promise<void>;

  /** `inOrder` runs a task after the group's publishes queued on this node before it. */
  constructor(deps: { hub: Hub; history: GroupHistory; inOrder: (group: string, task: () => Promise<void>) => Promise<void> }) {
    this.#hub = deps.hub;
    this.#history = deps.history;
    this.#inOrder = deps.inOrder;
  }

  /**
   * Subscribes `conn` to `group` after replaying what it missed since `since`: the
   * socket is subscribed and the group added to `conn.groups` in the same synchronous
   * step as the replay. `ack(result)` builds the join's reply, sent just before the
   * replay. Returns false when the connection closed meanwhile (nothing sent, nothing
   * subscribed).
   */
  async subscribe(conn: Connection, group: string, since: StreamPosition, ack: (result: RecoveryResult | undefined) => ServerFrame): Promise<boolean> {
    const topic = topics.group(group);
    const buffered: ServerFrame[] = [];
    const untap = this.#hub.tap(topic, (frame) => buffered.push(frame));
    let release: (() => void) | undefined;
    try {
      release = await this.#hub.retain(topic);
      const { recovered, position, entries } = await this.#read(group, since);
      let sent = false;
      await this.#inOrder(group, async () => {
        const socket = conn.socket;
        if (socket === undefined) return;
        sent = true;
        this.#flush(conn, group, since, { recovered, position, entries }, buffered, ack);
      });
      return sent;
    } finally {
      untap();
      release?.();
    }
  }

  #flush(conn: Connection, group: string, since: StreamPosition, read: { recovered: boolean; position: StreamPosition; entries: HistoryEntry[] },
    buffered: ServerFrame[], ack: (result: RecoveryResult) => ServerFrame): void {
    const { recovered, position, entries } = read;
    const last = entries.length === 0 ? since.offset : entries[entries.length - 1]!.offset;
    const topic = topics.group(group);
    conn.socket!.cork(() => {
      this.#hub.send(conn, ack({ recovered, position, count: entries.length }));
      for (const entry of entries) this.#hub.send(conn, historyFrame(group, position.epoch, entry, true));
      for (const frame of buffered) {
        if (recovered && frame.type === 'group' && frame.data.epoch === position.epoch && frame.data.offset !== undefined && frame.data.offset <= last) continue;
        this.#hub.send(conn, frame);
      }
      // Together, so a close after this point accounts for the subscription (Hub.remove).
      conn.groups.add(group);
      void this.#hub.subscribe(conn, topic); // confirmed already: this node holds the topic (retain)
    });
  }

  async #read(group: string, since: StreamPosition): Promise<{ recovered: boolean; position: StreamPosition; entries: HistoryEntry[] }> {
    let page = await this.#history.read(group, since.offset, RECOVERY_PAGE);
    const position = { offset: page.offset, epoch: page.epoch };
    const fail = { recovered: false, position, entries: [] };
    if (since.offset !== 0 && page.epoch !== since.epoch) return fail;
    if (since.offset > page.offset) return fail;
    if (page.offset - since.offset > MAX_RECOVERED) return fail;
    const entries: HistoryEntry[] = [];
    let expected = since.offset + 1;
    for (;;) {
      for (const entry of page.entries) {
        // A hole (trimmed or expired) means the history no longer reaches back far enough.
        if (entry.offset !== expected) return fail;
        entries.push(entry);
        expected += 1;
      }
      if (expected > position.offset || page.entries.length < RECOVERY_PAGE) break;
      page = await this.#history.read(group, expected - 1, RECOVERY_PAGE);
      if (page.epoch !== position.epoch) return fail;
    }
    // Everything up to the top seen at the first read must be there; later ones arrive live.
    if (expected <= position.offset) return fail;
    return { recovered: true, position: { offset: expected - 1, epoch: position.epoch }, entries };
  }
}
