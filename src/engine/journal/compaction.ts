import { open as openFile, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { InboxOptions } from '../inbox.js';
import { InboxState } from '../inbox-state.js';
import { logName, readLayout, snapName } from './files.js';
import { frame, scan } from './frames.js';
import type { Journal } from './journal.js';
import { applyRecord, boxRecords } from './records.js';

/** The log is compacted once it is at least this large (and as large as the last snapshot). */
export const COMPACT_MIN_BYTES = 64 * 1024 * 1024;

/** Records replayed or encoded between two yields to the event loop. */
const CHUNK = 2_000;

/** Snapshot bytes gathered before they are written. */
const WRITE_BYTES = 1024 * 1024;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Where the snapshot of `gen` is written before it is complete. */
export function snapTemp(dir: string, gen: number): string {
  return join(dir, `${snapName(gen)}.tmp`);
}

/**
 * Writes `state` as a snapshot of `gen` to its temp file (see snapTemp) and syncs it;
 * returns its size. `pause` is awaited every CHUNK records (it may throw to abandon the
 * snapshot, whose temp file is then removed). The caller renames it into place.
 */
export async function writeSnapshot(dir: string, gen: number, state: InboxState, now: number, pause: () => Promise<void>): Promise<number> {
  const temp = snapTemp(dir, gen);
  const file = await openFile(temp, 'w');
  let bytes = 0;
  let n = 0;
  try {
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    for (const userId of state.users.keys()) {
      for (const record of boxRecords(state, userId, now)) {
        const framed = frame(record);
        pending.push(framed);
        pendingBytes += framed.length;
        if (++n % CHUNK === 0) await pause();
      }
      if (pendingBytes >= WRITE_BYTES) {
        await file.writev(pending);
        bytes += pendingBytes;
        pending = [];
        pendingBytes = 0;
      }
    }
    await file.writev(pending);
    bytes += pendingBytes;
    await file.datasync();
  } catch (err) {
    await file.close();
    await rm(temp, { force: true });
    throw err;
  }
  await file.close();
  return bytes;
}

/**
 * Keeps the journal's files in proportion to the state they hold. Once the current log
 * has grown past max(minBytes, the last snapshot's size), the journal starts a new
 * generation, and the state as of that moment is rebuilt from the files alone (the
 * previous snapshot and the logs before the new generation, replayed into a scratch
 * InboxState), written as a snapshot of the new generation, synced and renamed into
 * place; then the files it supersedes are removed. The inbox's live state is never
 * read, so the work can be spread over many turns (CHUNK records at a time) while
 * appends carry on into the new log. A crash at any point leaves either the old files
 * or the new snapshot, both complete. The snapshot's cost (reading and writing) is at
 * most the bytes logged since the last one, so it stays proportional to the writes.
 */
export class Compactor {
  readonly #journal: Journal;
  readonly #opts: InboxOptions;
  readonly #clock: () => number;
  readonly #minBytes: number;
  readonly #onError: (err: Error) => void;
  #threshold: number;
  #running: Promise<void> | undefined;
  #closing = false;

  constructor(journal: Journal, opts: InboxOptions, clock: () => number, onError: (err: Error) => void, minBytes = COMPACT_MIN_BYTES) {
    this.#journal = journal;
    this.#opts = opts;
    this.#clock = clock;
    this.#onError = onError;
    this.#minBytes = minBytes;
    this.#threshold = minBytes;
  }

  /** Starts a compaction when the log has grown past the threshold and none is running. */
  check(): void {
    if (this.#running || this.#closing || this.#journal.size < this.#threshold) return;
    this.#running = this.#run()
      .catch((err: Error) => {
        // Tried again once the log has grown by another minBytes.
        this.#threshold = this.#journal.size + this.#minBytes;
        if (!this.#closing) this.#onError(err);
      })
      .finally(() => {
        this.#running = undefined;
      });
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
    const gen = await this.#journal.rotate();
    const dir = this.#journal.dir;
    const layout = readLayout(dir);
    const sources = [...(layout.base > 0 ? [snapName(layout.base)] : []), ...layout.logs.filter((g) => g < gen).map(logName)];
    const state = new InboxState(this.#opts);
    let n = 0;
    for (const name of sources) {
      const found = scan(await readFile(join(dir, name)));
      if (found.damage !== undefined) throw new Error(`inbox journal: ${name} is damaged (${found.damage}); not compacted`);
      for (const payload of found.payloads) {
        applyRecord(state, payload);
        if (++n % CHUNK === 0) await this.#yield();
      }
    }
    const bytes = await writeSnapshot(dir, gen, state, this.#clock(), () => this.#yield());
    this.#journal.installSnapshot(gen, snapTemp(dir, gen));
    this.#threshold = Math.max(this.#minBytes, bytes);
  }

  async #yield(): Promise<void> {
    await nextTurn();
    if (this.#closing) throw new Error('inbox journal: compaction abandoned at close');
  }
}
