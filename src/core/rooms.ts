import { GatewayError } from '../errors.js';
import type { GroupHistory } from '../engine/history.js';
import type { PresenceStore } from '../engine/presence.js';
import type { AckOut, GroupIn, GroupOut, HistoryIn, HistoryOut, JoinIn, ServerFrame, StreamPosition } from '../protocol/frames.js';
import type { Metrics } from '../metrics/registry.js';
import type { Connection } from './connection.js';
import type { ContentFilter } from './filter/content-filter.js';
import type { GroupPolicy } from './group-policy.js';
import type { Hub } from './hub.js';
import type { IdGenerator } from './ids.js';
import { KeyedQueue } from './keyed-queue.js';
import type { Membership } from './membership.js';
import type { PresenceService } from './presence.js';
import { historyFrame, Recovery, RECOVERY_PAGE, type RecoveryResult } from './recovery.js';
import { topics } from './topics.js';

export interface RoomsDeps {
  hub: Hub;
  policy: GroupPolicy;
  history: GroupHistory;
  presence: PresenceService;
  /** The presence store, for member counts (MaxMembers). */
  members: Pick<PresenceStore, 'members'>;
  filter: ContentFilter;
  ids: IdGenerator;
  metrics: Metrics;
  /** Confirmed join/leave (shared with the HTTP API's server-side joins). */
  membership: Membership;
  clock: () => number;
}

/**
 * Groups as rooms with rules: who may join (Join, MaxMembers), who may publish
 * (Publish), what is kept (History, important messages) and recovery on rejoin.
 *
 * Ordering of group messages kept in history: the append (which assigns the offset)
 * is issued at once, and the fan-out waits in a per-group queue for the appends
 * issued before it, so this node publishes a group's messages in offset order.
 * Messages of one group published on different nodes reach a member in each node's
 * order; their offsets give the one total order.
 *
 * MaxMembers counts distinct users across the cluster (the presence store's member
 * count). Joins of one group are serialised on this node, so a node never overshoots;
 * two nodes admitting the last seat at the same instant can exceed it by one each.
 */
export class Rooms {
  readonly #deps: RoomsDeps;
  readonly #recovery: Recovery;
  readonly #joins = new KeyedQueue();
  readonly #publishes = new KeyedQueue();

  /** Per group with history, the newest position this node fanned out. */
  readonly #seen = new Map<string, StreamPosition>();
  /**
   * During a broker outage: per group, the position seen when it began and the offsets
   * fanned out since (live frames that still got through), so the fill after the
   * outage sends each missed message once.
   */
  #outage: Map<string, { from: StreamPosition; observed: Set<number> }> | undefined;

  constructor(deps: RoomsDeps) {
    this.#deps = deps;
    this.#recovery = new Recovery({ hub: deps.hub, history: deps.history, inOrder: (group, task) => this.#publishes.run(group, task) });
    deps.hub.observe((_logical, frame) => {
      if (frame.type !== 'group' || frame.data.offset === undefined || frame.data.epoch === undefined || frame.data.recovered === true) return;
      const { group, offset, epoch } = frame.data;
      this.#outage?.get(group)?.observed.add(offset);
      const seen = this.#seen.get(group);
      if (seen === undefined || seen.epoch !== epoch || seen.offset < offset) this.#seen.set(group, { offset, epoch });
    });
  }

  /** The broker's connection was lost: remembers where each group with history stood. */
  outageBegan(): void {
    if (this.#outage !== undefined) return;
    this.#outage = new Map();
    for (const [group, from] of this.#seen) this.#outage.set(group, { from: { ...from }, observed: new Set() });
  }

  /**
   * After the broker came back from an outage: for every group with history that still
   * has members here, fans out from history what this node did not see while its
   * subscription was down, in offset order, as live frames. Pub/sub is at-most-once
   * across an outage; history closes the gap when it still reaches back (same epoch).
   * Returns how many messages were recovered.
   */
  async recoverAfterOutage(): Promise<number> {
    const outage = this.#outage;
    this.#outage = undefined;
    if (outage === undefined) return 0;
    const { hub, history } = this.#deps;
    let recovered = 0;
    for (const [group, { from, observed }] of outage) {
      const topic = topics.group(group);
      if (hub.localSubscribers(topic) === 0) {
        this.#seen.delete(group);
        continue;
      }
      await this.#publishes.run(group, async () => {
        let after = from.offset;
        for (;;) {
          const page = await history.read(group, after, RECOVERY_PAGE);
          if (page.epoch !== from.epoch) return; // the history was lost with the outage: nothing to recover from
          for (const entry of page.entries) {
            if (observed.has(entry.offset)) continue;
            hub.publishHere(topic, historyFrame(group, page.epoch, entry, false));
            recovered += 1;
          }
          if (page.entries.length < RECOVERY_PAGE) return;
          after = page.entries[page.entries.length - 1]!.offset;
        }
      });
    }
    return recovered;
  }

  /**
   * Joins `conn` to a group and answers with the ack itself (before any replayed
   * message): `{status, group, timestamp}`, plus `offset`/`epoch` (the group's history
   * position) when the group has history, plus `recovered` when `since` was given. The
   * ack is sent only once the membership is confirmed (broker subscription active,
   * membership recorded in presence); on failure nothing of it remains.
   * @throws FORBIDDEN, GROUP_FULL, BAD_REQUEST (too many groups on this connection), UNAVAILABLE.
   */
  async join(conn: Connection, data: JoinIn['data'], id: string | undefined): Promise<void> {
    const { policy, hub, membership } = this.#deps;
    const group = data.group;
    if (!policy.mayJoin(conn.principal, group)) throw new GatewayError('FORBIDDEN', `may not join ${group}`);
    const ack = (extra: Record<string, unknown>): ServerFrame => {
      const frame: AckOut = { type: 'ack', data: { status: 'ok', group, timestamp: this.#deps.clock(), ...extra } };
      if (id !== undefined) frame.id = id;
      return frame;
    };
    if (conn.groups.has(group)) {
      // Already receiving live (or joining): nothing to replay, and no claim that nothing was missed before.
      await membership.join(conn, group);
      hub.send(conn, ack(data.since === undefined ? {} : { recovered: false }));
      return;
    }
    membership.checkRoom(conn);
    const max = policy.rule(group).maxMembers;
    const admit = (work: () => Promise<void>): Promise<void> =>
      max === undefined ? work() : this.#joins.run(group, async () => {
        await this.#checkSeats(conn, group, max);
        await work();
      });
    if (data.since === undefined) {
      await admit(() => membership.join(conn, group));
      const position = policy.rule(group).history !== undefined ? await this.#deps.history.page(group, undefined, 0) : undefined;
      hub.send(conn, ack(position === undefined ? {} : { offset: position.offset, epoch: position.epoch }));
      return;
    }
    // Recovery: recorded in presence first, then replayed and subscribed in one step.
    await admit(() => this.#deps.presence.joined(conn, group));
    let joined = false;
    try {
      joined = await this.#recovery.subscribe(conn, group, data.since, (result: RecoveryResult | undefined) =>
        ack(result === undefined ? {} : { recovered: result.recovered, ...result.position, count: result.count }));
    } finally {
      // Closed before the replay, or failed: nothing of the join may remain.
      if (!joined) {
        await this.#deps.presence.left(conn, group).catch((err: unknown) => conn.log.warn({ err, group }, 'could not undo a group membership in presence'));
      }
    }
  }

  async #checkSeats(conn: Connection, group: string, max: number): Promise<void> {
    const { users, count } = await this.#deps.members.members(group, max);
    if (count >= max && !users.includes(conn.principal.userId)) {
      throw new GatewayError('GROUP_FULL', `${group} is full (${max} members)`, { group, maxMembers: max });
    }
  }

  /**
   * Publishes a group message after the rule's Publish check and the content filter.
   * Kept in history (and given `offset`/`epoch`) when the group's rule has History or
   * the message is `important`. Resolves with the sender's ack data.
   * @throws FORBIDDEN, CONTENT_REJECTED (nothing delivered, stored or counted).
   */
  async publish(conn: Connection, data: GroupIn['data']): Promise<AckOut['data']> {
    const group = data.group;
    this.checkPublish(conn, group);
    const content = this.#deps.filter.apply('group', data.content);
    return this.#publish(conn.principal.userId, group, content, data.important === true);
  }

  /** @throws FORBIDDEN when the connection may not publish to `group` (its rule's Publish). */
  checkPublish(conn: Connection, group: string): void {
    const { policy } = this.#deps;
    if (!policy.mayPublish(conn.principal, group, conn.groups.has(group))) {
      throw new GatewayError('FORBIDDEN', conn.groups.has(group) || policy.rule(group).publish !== 'members'
        ? `may not publish to ${group}` : `not a member of ${group}`);
    }
  }

  /**
   * Publishes a group message for a backend service (the HTTP API): no membership or
   * Publish check (the service is trusted), the content filter's `api` target, history
   * as for any message of the group.
   * @throws CONTENT_REJECTED
   */
  async publishFromBackend(from: string, group: string, content: unknown, important = false): Promise<AckOut['data']> {
    return this.#publish(from, group, this.#deps.filter.apply('api', content), important);
  }

  async #publish(from: string, group: string, content: unknown, important: boolean): Promise<AckOut['data']> {
    const { policy, hub } = this.#deps;
    this.#deps.metrics.inc('messages_group_total');
    const mid = this.#deps.ids.next();
    const timestamp = this.#deps.clock();
    const limits = policy.historyFor(group, important);
    if (limits === undefined) {
      // Not queued: a plain message has nothing to wait for (an important one in the same
      // group may therefore be overtaken by plain ones sent while its append runs).
      await hub.publish(topics.group(group), { type: 'group', data: { mid, from, group, content, timestamp } });
      return { mid, status: 'accepted', timestamp };
    }
    const entry = important ? { mid, from, content, timestamp, important: true as const } : { mid, from, content, timestamp };
    // Settled into a value at once: it may fail while earlier publishes still hold the
    // queue, and a rejection nobody is awaiting yet would be an unhandled one.
    const appended = this.#deps.history.append(group, entry, { size: limits.size, ttlMs: limits.ttl })
      .then((position) => ({ position }), (error: unknown) => ({ error }));
    // Queued behind earlier publishes of the group, so the fan-out follows offset order.
    return this.#publishes.run(group, async () => {
      const result = await appended;
      if ('error' in result) throw result.error;
      const { offset, epoch } = result.position;
      await hub.publish(topics.group(group), historyFrame(group, epoch, { offset, ...entry }, false));
      return { mid, status: 'accepted', timestamp, offset, epoch };
    });
  }

  /**
   * A page of the group's history for a member: the newest `limit` messages with
   * offset < before, oldest first, and the group's current position.
   */
  async history(conn: Connection, data: HistoryIn['data'], id: string | undefined): Promise<HistoryOut> {
    const group = data.group;
    if (!conn.groups.has(group)) throw new GatewayError('FORBIDDEN', `not a member of ${group}`);
    const page = await this.#deps.history.page(group, data.before, data.limit ?? 50);
    const messages: GroupOut['data'][] = page.entries.map((e) => historyFrame(group, page.epoch, e, false).data);
    const frame: HistoryOut = { type: 'history', data: { group, epoch: page.epoch, offset: page.offset, messages } };
    if (id !== undefined) frame.id = id;
    return frame;
  }

  /** @throws FORBIDDEN when the group's rule hides presence (`Presence: none`). */
  checkPresenceQuery(group: string): void {
    if (!this.#deps.policy.presenceVisible(group)) throw new GatewayError('FORBIDDEN', `presence of ${group} is hidden`);
  }

  /** Resolves when queued publishes have settled (shutdown). */
  async idle(): Promise<void> {
    await Promise.all([this.#joins.idle(), this.#publishes.idle()]);
  }
}
