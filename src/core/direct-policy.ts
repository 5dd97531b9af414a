import type { DirectMessagePolicy } from '../config.js';
import { GatewayError } from '../errors.js';
import type { PresenceStore } from '../engine/presence.js';
import type { Connection } from './connection.js';
import type { Hub } from './hub.js';

/** Members read per group when looking for a shared one; larger groups are looked at up to this many. */
export const SHARED_GROUP_SCAN = 10_000;

/**
 * Who may send a direct message to whom (config `DirectMessages`):
 *  - `anyone` (default): every user to every user;
 *  - `shared-group`: to users in the sender token's `contacts` claim, to itself, and to
 *    users that are members (on any node) of a group the sender has joined on this
 *    node, as the presence store records membership;
 *  - `none`: clients send no direct messages (the server side still can).
 */
export class DirectPolicy {
  readonly #policy: DirectMessagePolicy;
  readonly #hub: Hub;
  readonly #members: Pick<PresenceStore, 'members'>;

  constructor(deps: { policy: DirectMessagePolicy; hub: Hub; members: Pick<PresenceStore, 'members'> }) {
    this.#policy = deps.policy;
    this.#hub = deps.hub;
    this.#members = deps.members;
  }

  /** @throws FORBIDDEN when `conn`'s user may not message `to`. */
  async check(conn: Connection, to: string): Promise<void> {
    if (this.#policy === 'anyone') return;
    if (this.#policy === 'none') throw new GatewayError('FORBIDDEN', 'direct messages are disabled');
    const { userId, contacts } = conn.principal;
    if (to === userId || contacts.has(to)) return;
    const groups = new Set<string>();
    for (const own of this.#hub.userConnections(userId)) for (const g of own.groups) groups.add(g);
    for (const group of groups) {
      const { users } = await this.#members.members(group, SHARED_GROUP_SCAN);
      if (users.includes(to)) return;
    }
    throw new GatewayError('FORBIDDEN', `you may message only users you share a group with or your contacts; ${to} is neither`);
  }
}
