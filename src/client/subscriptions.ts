import type { GroupData, JoinAck, SettableStatus } from './types.js';

/** The position reached in a joined group's history (for `join {since}` after a reconnect). */
export interface GroupPosition { offset: number; epoch: string }

/** A frame that puts the server back in the state the application asked for. */
export interface RestoreFrame { type: 'join' | 'watch' | 'status'; data: Record<string, unknown>; group?: string; since?: GroupPosition }

/**
 * What the application subscribed to, kept so that a new connection can be put back
 * in the same state: joined groups with the last history position seen in each,
 * watched users, and the chosen status.
 */
export class Subscriptions {
  readonly #groups = new Map<string, GroupPosition | undefined>();
  readonly #watching = new Set<string>();
  #status: SettableStatus | undefined;

  /** The `join` data for a group: with `since` when a position in its history is known. */
  joinData(group: string): { data: Record<string, unknown>; since: GroupPosition | undefined } {
    const since = this.#groups.get(group);
    return { data: since === undefined ? { group } : { group, since }, since };
  }

  /** Records a join's answer. `hadSince`: the join asked for recovery. */
  joined(group: string, ack: JoinAck, hadSince: boolean): void {
    // A recovered join is followed by the replayed messages, which advance the position
    // themselves; taking the ack's offset now would drop them as already seen.
    if (hadSince && ack.recovered === true) {
      if (!this.#groups.has(group)) this.#groups.set(group, undefined);
      return;
    }
    const position = typeof ack.offset === 'number' && typeof ack.epoch === 'string' && ack.epoch !== ''
      ? { offset: ack.offset, epoch: ack.epoch } : undefined;
    this.#groups.set(group, position);
  }

  left(group: string): void {
    this.#groups.delete(group);
  }

  watch(users: readonly string[]): void {
    for (const u of users) this.#watching.add(u);
  }

  unwatch(users: readonly string[]): void {
    for (const u of users) this.#watching.delete(u);
  }

  status(status: SettableStatus): void {
    this.#status = status;
  }

  /**
   * Whether a group frame is new. Within one epoch offsets only grow, so a frame at or
   * below the last offset seen is a duplicate (a recovered message can reach a member
   * once more live from another node, protocol.md); a newer one advances the position.
   */
  fresh(data: GroupData): boolean {
    if (typeof data.offset !== 'number' || typeof data.epoch !== 'string' || !this.#groups.has(data.group)) return true;
    const known = this.#groups.get(data.group);
    if (known !== undefined && known.epoch === data.epoch && data.offset <= known.offset) return false;
    this.#groups.set(data.group, { offset: data.offset, epoch: data.epoch });
    return true;
  }

  /** The frames that restore this state on a new connection, in order: joins, watch, status. */
  restoreFrames(): RestoreFrame[] {
    const out: RestoreFrame[] = [];
    for (const group of this.#groups.keys()) {
      const { data, since } = this.joinData(group);
      out.push({ type: 'join', data, group, ...(since !== undefined ? { since } : {}) });
    }
    if (this.#watching.size > 0) out.push({ type: 'watch', data: { users: [...this.#watching] } });
    if (this.#status !== undefined && this.#status !== 'online') out.push({ type: 'status', data: { status: this.#status } });
    return out;
  }
}
