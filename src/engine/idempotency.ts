/**
 * Idempotency keys of the HTTP API: a POST carrying `Idempotency-Key` is carried out
 * at most once per (API key, Idempotency-Key) while its record lives, and a retry gets
 * the first answer back. The store decides atomically which caller runs the request,
 * so two concurrent retries (on one node or, with a shared store, on different nodes)
 * never both deliver.
 *
 * Record lifecycle: absent → (begin) pending, with a short lease → (finish) done, kept
 * for the configured TTL → absent. `abandon` returns a pending record to absent (the
 * request failed in a way a retry should repeat). A pending record whose node died
 * lapses with its lease, so the key becomes usable again.
 */

/** The answer remembered for retries: an HTTP status and a JSON-compatible body. */
export interface StoredAnswer {
  status: number;
  body: unknown;
}

export type IdempotencyClaim =
  /** The caller owns the key now: run the request, then `finish` or `abandon`. */
  | { state: 'claimed' }
  /** Another request with this key is running. */
  | { state: 'pending'; fingerprint: string }
  /** A request with this key completed; `answer` is what it answered. */
  | { state: 'done'; fingerprint: string; answer: StoredAnswer };

export interface IdempotencyStore {
  /**
   * Claims `key` within `scope` (the API key's hash) for a request whose method, route
   * and body hash to `fingerprint`, or reports what holds it. Atomic: of concurrent
   * callers exactly one gets `claimed`. A claim lapses after `leaseMs` unless finished.
   */
  begin(scope: string, key: string, fingerprint: string, leaseMs: number): Promise<IdempotencyClaim>;
  /**
   * Records the answer of a claimed key and keeps it for `ttlMs`. Does nothing when the
   * claim lapsed and the key now belongs to another fingerprint.
   */
  finish(scope: string, key: string, fingerprint: string, answer: StoredAnswer, ttlMs: number): Promise<void>;
  /** Releases a claimed key without an answer. Does nothing unless it is still pending with this fingerprint. */
  abandon(scope: string, key: string, fingerprint: string): Promise<void>;
  /** Releases resources. No call may follow. */
  close(): Promise<void>;
}
