import type { IdempotencyClaim, IdempotencyStore, StoredAnswer } from '../idempotency.js';

interface Entry {
  fingerprint: string;
  answer: StoredAnswer | undefined;
  expiresAt: number;
}

/** How often expired records are swept out (lookups ignore them in between). */
const SWEEP_MS = 30_000;

/**
 * Idempotency records in this process's memory: single node only (another node cannot
 * see them) and lost on restart, which forgets keys a client might still retry;
 * cluster mode uses the Redis store. Expired records are ignored at once and swept
 * out periodically, so memory is bounded by the keys used within one TTL.
 */
export class MemoryIdempotencyStore implements IdempotencyStore {
  readonly #entries = new Map<string, Entry>();
  readonly #clock: () => number;
  readonly #sweep: NodeJS.Timeout;
  #closed = false;

  constructor(options: { clock?: () => number } = {}) {
    this.#clock = options.clock ?? Date.now;
    this.#sweep = setInterval(() => this.#expire(), SWEEP_MS);
    this.#sweep.unref();
  }

  async begin(scope: string, key: string, fingerprint: string, leaseMs: number): Promise<IdempotencyClaim> {
    this.#check();
    const id = entryId(scope, key);
    const now = this.#clock();
    const entry = this.#entries.get(id);
    if (entry !== undefined && entry.expiresAt > now) {
      return entry.answer === undefined
        ? { state: 'pending', fingerprint: entry.fingerprint }
        : { state: 'done', fingerprint: entry.fingerprint, answer: entry.answer };
    }
    this.#entries.set(id, { fingerprint, answer: undefined, expiresAt: now + leaseMs });
    return { state: 'claimed' };
  }

  async finish(scope: string, key: string, fingerprint: string, answer: StoredAnswer, ttlMs: number): Promise<void> {
    this.#check();
    const id = entryId(scope, key);
    const entry = this.#entries.get(id);
    const now = this.#clock();
    if (entry !== undefined && entry.expiresAt > now && entry.fingerprint !== fingerprint) return;
    // A structured copy: the caller's answer object may be changed after this returns.
    this.#entries.set(id, { fingerprint, answer: structuredClone(answer), expiresAt: now + ttlMs });
  }

  async abandon(scope: string, key: string, fingerprint: string): Promise<void> {
    this.#check();
    const id = entryId(scope, key);
    const entry = this.#entries.get(id);
    if (entry !== undefined && entry.answer === undefined && entry.fingerprint === fingerprint) this.#entries.delete(id);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweep);
    this.#entries.clear();
  }

  #expire(): void {
    const now = this.#clock();
    for (const [id, entry] of this.#entries) if (entry.expiresAt <= now) this.#entries.delete(id);
  }

  #check(): void {
    if (this.#closed) throw new Error('idempotency store is closed');
  }
}

/** Scope and key joined unambiguously (the scope is a hex hash, so it holds no NUL). */
function entryId(scope: string, key: string): string {
  return `${scope}\u0000${key}`;
}
