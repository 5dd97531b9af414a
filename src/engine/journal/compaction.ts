import { open as openFile, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { InboxState } from '../inbox-state.js';
import { snapName } from './files.js';
import { frame } from './frames.js';
import type { Journal } from './journal.js';
import { boxRecords } from './records.js';

/** The log is compacted once it is at least this large (and as large as the last snapshot). */
export const COMPACT_MIN_BYTES = 64 * 1024 * 1024;

/** Users written between two yields to the event loop. */
const CHUNK = 500;

/** Snapshot bytes gathered before they are written. */
const WRITE_BYTES = 1024 * 1024;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Where the snapshot of `gen` is written before it is complete. */
export function snapTemp(dir: string, gen: number): string {
  return join(dir, `${snapName(gen)}.tmp`);
}

/**
 * One snapshot being written: the state as it was when the journal was cut, user by
 * user. A user not yet written when something is about to change its box is written
 * first (`touch`), so every user's records show the box as it was at the cut, while
 * the state goes on changing; users created after the cut are not in it (the new log
 * holds them).
 */
class Snapshot {
  readonly #state: InboxState;
  readonly #now: number;
  /** Users that existed at the cut and are not written yet. */
  readonly remaining: Set<string>;
  frames: Buffer[] = [];
  bytes = 0;
  written = 0;

  constructor(state: InboxState, now: number) {
    this.#state = state;
    this.#now = now;
    this.remaining = new Set(state.users.keys());
  }

  /** Encodes the user's box as it is now (the caller ensures: as it was at the cut). */
  take(userId: string): void {
    this.remaining.delete(userId);
    for (const record of boxRecords(this.#state, userId, this.#now)) {
      const framed = frame(record);
      this.frames.push(framed);
      this.bytes += framed.length;
    }
  }

  async flush(file: FileHandle): Promise<void> {
    const frames = this.frames;
    const bytes = this.bytes;
    this.frames = [];
    this.bytes = 0;
    if (frames.length > 0) await file.writev(frames);
    this.written += bytes;
  }
}

/**
 * Keeps the journal's files in proportion to the state they hold. Once the current log
 * has grown past max(minBytes, the last snapshot's size), the journal is cut (the next
 * records go to a new generation's log) and the state as of the cut is written as that
 * generation's snapshot, CHUNK users per turn while appends carry on; once it is
 * complete, synced, and everything before the cut is durable, it is renamed into place
 * and the files it supersedes are removed. A crash at any point leaves either the old
 * files or the new snapshot, both complete. Costs one encoding of what is stored per
 * snapshot, at most as many bytes as were logged since the last one; holds at most
 * about WRITE_BYTES of it in memory (plus users written early by `touch`).
 */
export class Compactor {
  readonly #journal: Journal;
  readonly #state: () => InboxState;
  readonly #clock: () => number;
  readonly #minBytes: number;
  readonly #onError: (err: Error) => void;
  #threshold: number;
  #running: Promise<void> | undefined;
  #snapshot: Snapshot | undefined;
  #aborted: Error | undefined;
  #closing = false;

  /** `state` returns the inbox's state (the inbox may replace it: see abort). */
  constructor(journal: Journal, state: () => InboxState, clock: () => number, onError: (err: Error) => void, minBytes = COMPACT_MIN_BYTES) {
    this.#journal = journal;
    this.#state = state;
    this.#clock = clock;
    this.#onError = onError;
    this.#minBytes = minBytes;
    this.#threshold = minBytes;
  }

  /**
   * Starts a compaction when the log has grown past the threshold (or `force`) and
   * none is running. Only call it when the state holds exactly what was written to
   * the journal: the snapshot starts from the state as it is.
   */
  check(force = false): void {
    if (this.#running || this.#closing || (!force && this.#journal.size < this.#threshold)) return;
    this.#aborted = undefined;
    this.#running = this.#run()
      .catch((err: Error) => {
        // Tried again once the log has grown by another minBytes.
        this.#threshold = this.#journal.size + this.#minBytes;
        if (!this.#closing) this.#onError(err);
      })
      .finally(() => {
        this.#running = undefined;
        this.#snapshot = undefined;
      });
  }

  /** Must be called before the box of `userId` changes in any way that a snapshot would show. */
  touch(userId: string): void {
    const snapshot = this.#snapshot;
    if (snapshot !== undefined && snapshot.remaining.has(userId)) snapshot.take(userId);
  }

  /** Gives up the snapshot under way (the state it was taking was replaced). */
  abort(reason: Error): void {
    if (this.#running) this.#aborted = reason;
    this.#snapshot = undefined;
  }

  /** Resolves when the compaction under way (if any) has finished. */
  idle(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  /** Abandons a compaction under way (its temp file is removed) and starts no more. */
  async close(): Promise<void> {
    this.#closing = true;
    await this.#running;
  }

  async #run(): Promise<void> {
    const dir = this.#journal.dir;
    const { gen, complete } = this.#journal.rotate();
    // Handled below; until then a failure before the cut must not go unhandled.
    complete.catch(() => {});
    const snapshot = new Snapshot(this.#state(), this.#clock());
    this.#snapshot = snapshot;
    const temp = snapTemp(dir, gen);
    const file = await openFile(temp, 'w');
    try {
      let n = 0;
      for (const userId of snapshot.remaining) {
        snapshot.take(userId);
        if (++n % CHUNK !== 0) continue;
        if (snapshot.bytes >= WRITE_BYTES) await snapshot.flush(file);
        else await nextTurn();
        this.#check();
      }
      this.#snapshot = undefined;
      await snapshot.flush(file);
      await file.datasync();
      await complete;
      this.#check();
    } catch (err) {
      this.#snapshot = undefined;
      await file.close();
      await rm(temp, { force: true });
      throw err;
    }
    await file.close();
    this.#journal.installSnapshot(gen, temp);
    this.#threshold = Math.max(this.#minBytes, snapshot.written);
  }

  #check(): void {
    if (this.#aborted) throw this.#aborted;
    if (this.#closing) throw new Error('inbox journal: compaction abandoned at close');
  }
}

/** Writes all of `state` as the snapshot of `gen` to its temp file (snapTemp) and syncs it; the caller renames it into place. */
export async function writeSnapshot(dir: string, gen: number, state: InboxState, now: number): Promise<void> {
  const snapshot = new Snapshot(state, now);
  const temp = snapTemp(dir, gen);
  const file = await openFile(temp, 'w');
  try {
    for (const userId of snapshot.remaining) {
      snapshot.take(userId);
      if (snapshot.bytes >= WRITE_BYTES) await snapshot.flush(file);
    }
    await snapshot.flush(file);
    await file.datasync();
  } finally {
    await file.close();
  }
}
