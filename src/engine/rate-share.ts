/**
 * Shares per-user message counts between nodes so that a per-user rate limit holds
 * cluster-wide without a round trip per message: each node limits locally with its
 * own token buckets and, every few hundred milliseconds, reports how many frames each
 * active user sent here and learns how many the same users sent on other nodes; the
 * local buckets are then debited by those. Worst-case overshoot over a cluster of N
 * nodes is therefore about (N - 1) × rate × interval frames per interval, on top of
 * one burst per node (documented in docs/cluster.md).
 */
export interface RateShare {
  /**
   * Adds `counts` (frames per user sent on `nodeId` since its last exchange) to the
   * shared tallies and returns, for the same users, the frames other nodes added since
   * this node's previous exchange. Users absent from the result sent nothing elsewhere.
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
