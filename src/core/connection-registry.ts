import type { Connection } from './connection.js';

/**
 * This node's open connections, by id and by user. Hub owns one and answers the
 * lookups through it; it holds no topics and sends nothing.
 *
 * Memory: a user's entry is the connection itself while it is the only one (nearly
 * every user), and a Set (insertion order: oldest first) from the second on, so the
 * common single-connection user costs no Set.
 */
export class ConnectionRegistry {
  readonly #byId = new Map<string, Connection>();
  readonly #byUser = new Map<string, Connection | Set<Connection>>();

  get size(): number {
    return this.#byId.size;
  }

  /** Users with at least one connection on this node. */
  get userCount(): number {
    return this.#byUser.size;
  }

  get(connId: string): Connection | undefined {
    return this.#byId.get(connId);
  }

  values(): IterableIterator<Connection> {
    return this.#byId.values();
  }

  /** This node's connections of one user, oldest first. */
  ofUser(userId: string): readonly Connection[] {
    const entry = this.#byUser.get(userId);
    return entry === undefined ? [] : entry instanceof Set ? [...entry] : [entry];
  }

  countOfUser(userId: string): number {
    const entry = this.#byUser.get(userId);
    return entry === undefined ? 0 : entry instanceof Set ? entry.size : 1;
  }

  /** Adds a connection (again: no change). */
  add(conn: Connection): void {
    this.#byId.set(conn.id, conn);
    const userId = conn.principal.userId;
    const entry = this.#byUser.get(userId);
    if (entry === undefined) this.#byUser.set(userId, conn);
    else if (entry instanceof Set) entry.add(conn);
    else if (entry !== conn) this.#byUser.set(userId, new Set([entry, conn]));
  }

  /** Removes a connection; false when it was not here. */
  delete(conn: Connection): boolean {
    if (!this.#byId.delete(conn.id)) return false;
    const userId = conn.principal.userId;
    const entry = this.#byUser.get(userId);
    if (entry === conn) {
      this.#byUser.delete(userId);
    } else if (entry instanceof Set) {
      entry.delete(conn);
      // Back to one connection: the entry is that connection again (no Set kept for it).
      if (entry.size === 1) this.#byUser.set(userId, entry.values().next().value!);
      else if (entry.size === 0) this.#byUser.delete(userId);
    }
    return true;
  }
}
