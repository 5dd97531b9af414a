/**
 * A user's open connections (connId -> nodeId) in the order they connected.
 *
 * Memory: nearly every user has one connection, and a Map costs about 300 bytes even
 * with one entry (its hash table), so the first connection is held in two fields and
 * a Map appears only from the second on (and goes again when one is left). At 10,000
 * users that is 3 MB less heap.
 */
export class ConnectionSet {
  #soleId: string | undefined;
  #soleNode: string | undefined;
  #many: Map<string, string> | undefined;

  get size(): number {
    return this.#many !== undefined ? this.#many.size : this.#soleId !== undefined ? 1 : 0;
  }

  has(connId: string): boolean {
    return this.#many !== undefined ? this.#many.has(connId) : this.#soleId === connId;
  }

  /** Adds a connection as the newest (or gives a known one a new node, keeping its place). */
  set(connId: string, nodeId: string): void {
    if (this.#many !== undefined) {
      this.#many.set(connId, nodeId);
    } else if (this.#soleId === undefined || this.#soleId === connId) {
      this.#soleId = connId;
      this.#soleNode = nodeId;
    } else {
      this.#many = new Map([[this.#soleId, this.#soleNode!], [connId, nodeId]]);
      this.#soleId = undefined;
      this.#soleNode = undefined;
    }
  }

  /** False when the connection was not here. */
  delete(connId: string): boolean {
    const many = this.#many;
    if (many === undefined) {
      if (this.#soleId !== connId) return false;
      this.#soleId = undefined;
      this.#soleNode = undefined;
      return true;
    }
    if (!many.delete(connId)) return false;
    if (many.size === 1) {
      const [[id, node]] = many;
      this.#many = undefined;
      this.#soleId = id;
      this.#soleNode = node;
    }
    return true;
  }

  /** The oldest connection still here, or undefined when there is none. */
  oldest(): [connId: string, nodeId: string] | undefined {
    if (this.#many !== undefined) return this.#many.entries().next().value;
    return this.#soleId === undefined ? undefined : [this.#soleId, this.#soleNode!];
  }
}
