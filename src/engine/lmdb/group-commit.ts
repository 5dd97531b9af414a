import { CommitPacer } from '../commit-window.js';

/**
 * The part of an lmdb root database GroupCommit drives: an asynchronous write
 * transaction, and (inside it) a synchronous, abortable child transaction.
 */
export interface TransactionRunner {
  transaction<T>(fn: () => T): Promise<T>;
  childTransaction<T>(fn: () => T): Promise<T> | T;
}

/** How soon a lazy operation is written when no urgent one comes to carry it (ms). */
export const DEFAULT_LAZY_DELAY_MS = 5;

/** The longest commit window GroupCommit accepts (ms); longer would hold acks for no gain. */
export const MAX_COMMIT_WINDOW_MS = 1000;

/** Returns a valid commit window (0..MAX_COMMIT_WINDOW_MS ms); throws a RangeError otherwise. */
export function checkCommitWindow(ms: unknown): number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > MAX_COMMIT_WINDOW_MS) {
    throw new RangeError(`the commit window must be 0..${MAX_COMMIT_WINDOW_MS} ms, got ${String(ms)}`);
  }
  return ms;
}

interface Operation {
  fn: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  /** Set inside the transaction: the child transaction's outcome. */
  ok?: boolean;
  value?: unknown;
  error?: unknown;
}

/**
 * Group commit for one LMDB environment: operations queued in one event turn (and
 * lazy ones queued over a few milliseconds) are written together, in one write
 * transaction, so one commit and one fsync serve all of them, and the lmdb writer
 * thread calls into JavaScript once per batch rather than once per operation. While a
 * commit is in flight, lmdb itself appends the next batches to the transaction it has
 * queued, so batches grow with the load and no delay is added at light load.
 *
 * Contract:
 *  - Order: operations run in the order `run` was called, each seeing the writes of
 *    every earlier one (read-your-writes inside the transaction).
 *  - Atomicity: each operation runs as a child transaction: when it throws, none of
 *    its own writes are kept, it rejects with what it threw, and the others of the
 *    batch are unaffected. When the commit itself fails, every operation of the batch
 *    rejects with that error and nothing of the batch is written.
 *  - Durability: an operation resolves only once the transaction that holds it has
 *    committed (with the environment's sync settings).
 *  - Urgency: an `urgent` operation (someone waits for it: an append) is handed to
 *    lmdb `windowMs` after it was queued when appends have lately come at least one
 *    per window, otherwise (and with 0) on the next turn (see CommitPacer), with
 *    everything queued before it and meanwhile; a lazy one (an ack removal, a sweep)
 *    waits up to `lazyDelayMs` for an urgent one to share a commit with.
 *
 * Why a window: a commit costs about the same whether it carries one operation or
 * fifty (every B-tree page it touches is written, then an fsync; about 1 ms of CPU on
 * a 2-core VM, 1 Dec 2026), and without a wait nearly every append at a few hundred a
 * second commits alone. Waiting a few milliseconds lets the next ones share its
 * commit: less CPU per message, for that much more latency before the append
 * resolves; CommitPacer waits only when at least one is expected to come.
 */
export class GroupCommit {
  readonly #runner: TransactionRunner;
  readonly #lazyDelayMs: number;
  #queue: Operation[] = [];
  #urgent = false;
  /** Batches handed to lmdb and not yet settled. */
  readonly #inFlight = new Set<Promise<void>>();
  #scheduled: 'now' | 'later' | undefined;
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  readonly #pacer: CommitPacer;

  /** `windowMs`: see Urgency in the class contract (checkCommitWindow). */
  constructor(runner: TransactionRunner, lazyDelayMs: number = DEFAULT_LAZY_DELAY_MS, windowMs = 0) {
    this.#runner = runner;
    this.#lazyDelayMs = lazyDelayMs;
    this.#pacer = new CommitPacer(checkCommitWindow(windowMs));
  }

  /** Queues `fn` for the next commit; see the class contract. */
  run<T>(fn: () => T, urgent: boolean): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      let delay = 0;
      if (urgent) {
        this.#urgent = true;
        delay = this.#pacer.urgent();
      }
      this.#schedule(delay);
    });
  }

  /** Operations queued and not yet handed to a transaction. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Writes everything queued now, without waiting for the lazy delay; resolves when it has settled. */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0 || this.#queue.length > 0) {
      this.#flush();
      await Promise.all(this.#inFlight);
    }
  }

  /** `delay`: how long an urgent operation queued now lets its batch wait (CommitPacer). */
  #schedule(delay: number): void {
    if (this.#queue.length === 0) return;
    if (this.#urgent) {
      if (this.#scheduled === 'now') return;
      this.#cancel();
      this.#scheduled = 'now';
      if (delay > 0) {
        this.#timer = setTimeout(() => this.#flush(), delay);
        return;
      }
      // The next turn, so that operations issued in this one share the commit.
      this.#immediate = setImmediate(() => this.#flush());
      return;
    }
    if (this.#scheduled !== undefined) return;
    this.#scheduled = 'later';
    this.#timer = setTimeout(() => this.#flush(), this.#lazyDelayMs);
  }

  #cancel(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
    this.#scheduled = undefined;
  }

  #flush(): void {
    this.#cancel();
    if (this.#queue.length === 0) return;
    const batch = this.#queue;
    this.#queue = [];
    this.#urgent = false;
    const done = this.#commit(batch);
    this.#inFlight.add(done);
    void done.then(() => this.#inFlight.delete(done));
  }

  /** Never rejects: every outcome is handed to the operations' own promises. */
  async #commit(batch: Operation[]): Promise<void> {
    try {
      await this.#runner.transaction(() => {
        for (const op of batch) {
          try {
            op.value = this.#runner.childTransaction(op.fn);
            op.ok = true;
          } catch (err) {
            op.ok = false;
            op.error = err;
          }
        }
      });
    } catch (err) {
      for (const op of batch) op.reject(err);
      return;
    }
    for (const op of batch) {
      if (op.ok === true) op.resolve(op.value);
      else if (op.ok === false) op.reject(op.error);
      // The transaction never ran this operation (it cannot happen with lmdb): say so.
      else op.reject(new Error('inbox: the write transaction committed without running this operation'));
    }
  }
}
