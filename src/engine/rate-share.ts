/**
 * Shares per-user message counts between nodes so that a per-user rate limit holds
 * cluster-wide without a round trip per message: each node limits locally with its
 * own token buckets and, every few hundred milliseconds, reports how many frames each
 * user that sent anything sent here, and learns which users sent frames on other nodes
 * and how many; the local buckets of those users are then debited. Users that send
 * nothing cost nothing: the cost of an exchange follows activity, not connected users.
 * Worst-case overshoot is documented in docs/cluster.md ("Rate-limit overshoot").
 */
export interface RateShare {
  /**
   * Reports `counts` (frames per user sent on `nodeId` since its last exchange; users at 0
   * may be left out) and returns the frames other nodes reported since this node's
   * previous exchange, for every user they named, whether or not it is in `counts`
   * (callers keep the users they hold). Users absent from the result sent nothing
   * elsewhere, or only long enough ago not to count. A node's first exchange returns
   * nothing (it sets where reading starts).
   */
  exchange(nodeId: string, counts: ReadonlyMap<string, number>): Promise<Map<string, number>>;
  close(): Promise<void>;
}

/** The single-node share: there are no other nodes. */
export class LocalRateShare implements RateShare {
  async exchange(): Promise<Map<string, number>> {
    return new Map();
  }

  async close(): Promise<void> {}
}
