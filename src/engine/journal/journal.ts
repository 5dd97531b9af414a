import { closeSync, constants, fstatSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writev } from 'node:fs';
import { join } from 'node:path';
import { CommitPacer } from '../commit-window.js';
import { frame, scan } from './frames.js';
import { lock, logName, readLayout, snapName, syncDir, unlock } from './files.js';

/** How soon a lazy record (an ack, a sweep) is written when no urgent one comes to carry it (ms). */
export const LAZY_DELAY_MS = 5;

export interface JournalOptions {
  /** Sync each batch to the disk before its records resolve (default true). */
  fsync: boolean;
  /** How long the first urgent record of a batch waits for others to share its write (ms; 0: the next turn); see CommitPacer. */
  commitWindowMs: number;
  /** Told when a batch could not be written; the journal then holds only what was written before it. */
  onFailure: (err: Error) => void;
  /** Told about a torn record cut off the end of the last log at open (a crash mid-write). */
  onTornTail: (file: string, damage: string) => void;
  /** node:fs writev unless given: tests pass one that fails, as a full disk does. */
  writev?: typeof writev;
}

interface Batch {
  frames: Buffer[];
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: Error) => void;
  /** Whether an urgent record is in it (its write is due `commitWindowMs` after that record). */
  urgent: boolean;
}

/**
 * An append-only log of records in a directory (see files.ts for the layout), written
 * in batches with group commit: records written in the same window share one
 * synchronous (O_DSYNC) write, with at most one write in flight; what arrives meanwhile forms
 * the next batch.
 *
 * Contract:
 *  - Order: records reach the file in `write` call order; `load` returns them so.
 *  - Durability: `write` resolves once its record is written and (fsync) synced.
 *  - Failure: when a batch cannot be written, the file is cut back to its end before
 *    the batch, and that batch and every record written after it reject with the
 *    error (their callers saw state the file no longer holds); then onFailure runs,
 *    synchronously, so its owner can reload. A journal that cannot even cut its file
 *    back refuses every later write.
 *  - One process: the directory is locked while open (files.ts).
 */
export class Journal {
  readonly #dir: string;
  readonly #opts: JournalOptions;
  #gen: number;
  #fd: number;
  /** Bytes of the current log that are written (and synced): where the next batch goes. */
  #size: number;
  #open: Batch | undefined;
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  /** The batch whose write is in flight. */
  #writing: Batch | undefined;
  /**
   * A rotation asked for (see rotate): the records queued before the cut go to the
   * current log, those after it to the next generation's. The cut lies in `batch` (the
   * batch open when it was asked for) before frame `index`, or, without a batch, before
   * whatever is written next.
   */
  #rotation: { batch: Batch | undefined; index: number; resolve: () => void; reject: (err: Error) => void } | undefined;
  #broken: Error | undefined;
  /** Set when the open batch's window has passed: it is written as soon as no write is in flight. */
  #due = false;
  #closing: Promise<void> | undefined;
  #idle: (() => void) | undefined;
  readonly #pacer: CommitPacer;

  private constructor(dir: string, opts: JournalOptions, gen: number, fd: number, size: number) {
    this.#dir = dir;
    this.#opts = opts;
    this.#gen = gen;
    this.#fd = fd;
    this.#size = size;
    this.#pacer = new CommitPacer(opts.commitWindowMs);
  }

  /**
   * Opens (creating when missing) the journal in `dir`: locks it, removes files a
   * snapshot superseded, cuts a torn record off the end of the last log, hands every
   * intact record's payload to `apply` in order (each a view valid during the call),
   * and returns the journal (`created`: the directory held no journal before). Throws when another
   * process holds the lock, or when a snapshot or a log other than the last is damaged
   * (that is not a crash's doing: the files were changed by something else).
   */
  static open(dir: string, opts: JournalOptions, apply: (payload: Buffer) => void): { journal: Journal; created: boolean } {
    mkdirSync(dir, { recursive: true });
    lock(dir);
    try {
      const layout = readLayout(dir);
      for (const name of layout.stale) rmSync(join(dir, name), { force: true });
      readRecords(dir, layout.base, layout.logs, opts.onTornTail, apply);
      const gen = layout.logs.at(-1) ?? Math.max(layout.base, 1);
      const fd = openLog(dir, gen, opts.fsync);
      if (layout.logs.length === 0) syncDir(dir);
      return { journal: new Journal(dir, opts, gen, fd, fstatSync(fd).size), created: layout.base === 0 && layout.logs.length === 0 };
    } catch (err) {
      unlock(dir);
      throw err;
    }
  }

  /** Hands every intact record's payload, as the files now hold them, to `apply` (for a reload after a failure). */
  load(apply: (payload: Buffer) => void): void {
    const layout = readLayout(this.#dir);
    readRecords(this.#dir, layout.base, layout.logs.filter((gen) => gen <= this.#gen), () => {}, apply);
  }

  /** Bytes in the current log (written ones). */
  get size(): number {
    return this.#size;
  }

  /**
   * Appends one record (a non-empty payload) and resolves when it is durable. An
   * `urgent` record (someone waits for it) is written `commitWindowMs` after the first
   * urgent record of its batch when appends have lately come at least one per window,
   * otherwise on the next turn (see CommitPacer); lazy ones wait up to LAZY_DELAY_MS
   * for one to ride with.
   */
  write(payload: Uint8Array, urgent: boolean): Promise<void> {
    if (this.#broken) return Promise.reject(this.#broken);
    if (this.#closing) return Promise.reject(new Error('inbox journal: closed'));
    const framed = frame(payload);
    const delay = urgent ? this.#pacer.urgent() : 0;
    let batch = this.#open;
    if (!batch) {
      let resolve!: () => void;
      let reject!: (err: Error) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      batch = { frames: [], promise, resolve, reject, urgent: false };
      this.#open = batch;
      this.#schedule(urgent ? delay : Math.max(this.#opts.commitWindowMs, LAZY_DELAY_MS));
    } else if (urgent && !batch.urgent) {
      this.#schedule(delay);
    }
    if (urgent) batch.urgent = true;
    batch.frames.push(framed);
    return batch.promise;
  }

  /** Resolves once everything written so far is durable (rejects when any of it failed). */
  flushed(): Promise<void> {
    if (this.#broken) return Promise.reject(this.#broken);
    const last = this.#open ?? this.#writing;
    return last ? last.promise : Promise.resolve();
  }

  /**
   * Cuts the journal here: every record written before this call belongs to the
   * current generation, every later one to the next. Returns that next generation at
   * once (a snapshot of the state as of now belongs to it: compaction.ts) and
   * `complete`, which resolves once everything before the cut is durable and the next
   * generation's log exists, and rejects when a write before the cut fails.
   */
  rotate(): { gen: number; complete: Promise<void> } {
    if (this.#broken) throw this.#broken;
    if (this.#rotation) throw new Error('inbox journal: a rotation is already under way');
    const gen = this.#gen + 1;
    const complete = new Promise<void>((resolve, reject) => {
      this.#rotation = { batch: this.#open, index: this.#open?.frames.length ?? 0, resolve, reject };
    });
    if (!this.#writing) this.#pump();
    return { gen, complete };
  }

  /** The generation records are being written to. */
  get generation(): number {
    return this.#gen;
  }

  get dir(): string {
    return this.#dir;
  }

  /** Writes what is queued at once, waits for it, closes the file and releases the lock. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#open) this.#schedule(0);
      while (this.#open || this.#writing) {
        await new Promise<void>((resolve) => {
          this.#idle = resolve;
        });
      }
      this.#rotation?.reject(new Error('inbox journal: closed'));
      this.#rotation = undefined;
      closeSync(this.#fd);
      unlock(this.#dir);
    })();
    return this.#closing;
  }

  #schedule(delayMs: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
    const due = (): void => {
      this.#timer = undefined;
      this.#immediate = undefined;
      this.#due = true;
      this.#pump();
    };
    if (delayMs <= 0) this.#immediate = setImmediate(due);
    else this.#timer = setTimeout(due, delayMs);
  }

  #pump(): void {
    if (this.#writing) return;
    const rotation = this.#rotation;
    // A cut with nothing before it still to write: switch now.
    if (rotation && rotation.batch === undefined) this.#switch();
    const batch = this.#open;
    if (!batch || !this.#due) {
      if (!batch) this.#idle?.();
      return;
    }
    this.#open = undefined;
    this.#due = false;
    this.#writing = batch;
    if (rotation?.batch !== batch) {
      this.#writeFrames(batch, batch.frames, () => this.#written(batch));
      return;
    }
    // The cut lies in this batch: its head ends the current log, its tail starts the next.
    const head = batch.frames.slice(0, rotation.index);
    const tail = batch.frames.slice(rotation.index);
    this.#writeFrames(batch, head, () => {
      if (!this.#switch()) return this.#failed(batch, new Error('inbox journal: could not start the next log'));
      this.#writeFrames(batch, tail, () => this.#written(batch));
    });
  }

  /** Writes `frames` at the end of the current log, then calls `done`; on failure fails the batch instead. */
  #writeFrames(batch: Batch, frames: Buffer[], done: () => void): void {
    if (frames.length === 0) return done();
    let bytes = 0;
    for (const f of frames) bytes += f.length;
    (this.#opts.writev ?? writev)(this.#fd, frames, this.#size, (err, written) => {
      if (err) return this.#failed(batch, err);
      if (written !== bytes) return this.#failed(batch, new Error(`inbox journal: wrote ${written} of ${bytes} bytes (is the disk full?)`));
      this.#size += bytes;
      done();
    });
  }

  #written(batch: Batch): void {
    this.#writing = undefined;
    batch.resolve();
    this.#pump();
  }

  #failed(batch: Batch, err: Error): void {
    this.#writing = undefined;
    try {
      ftruncateSync(this.#fd, this.#size);
    } catch (truncateErr) {
      this.#broken = new Error('inbox journal: a write failed and the log could not be cut back; restart the gateway', { cause: truncateErr });
    }
    const later = this.#open;
    this.#open = undefined;
    // Records before a cut were lost: the snapshot waiting for them is given up.
    this.#rotation?.reject(new Error('inbox journal: a write failed before the cut', { cause: err }));
    this.#rotation = undefined;
    this.#due = false;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#immediate) clearImmediate(this.#immediate);
    batch.reject(err);
    later?.reject(new Error('inbox journal: an earlier write failed', { cause: err }));
    this.#opts.onFailure(err);
    this.#pump();
  }

  /** Switches to the next generation's log and completes the rotation; false when the log could not be opened. */
  #switch(): boolean {
    const rotation = this.#rotation!;
    this.#rotation = undefined;
    try {
      const gen = this.#gen + 1;
      const fd = openLog(this.#dir, gen, this.#opts.fsync);
      syncDir(this.#dir);
      closeSync(this.#fd);
      this.#fd = fd;
      this.#gen = gen;
      this.#size = 0;
      rotation.resolve();
      return true;
    } catch (err) {
      rotation.reject(err as Error);
      return false;
    }
  }

  /**
   * Installs a snapshot of the state as of the start of `gen` (written to its temp
   * file by the caller and synced), and removes the files it supersedes.
   */
  installSnapshot(gen: number, tempPath: string): void {
    renameSync(tempPath, join(this.#dir, snapName(gen)));
    syncDir(this.#dir);
    for (const name of readLayout(this.#dir).stale) rmSync(join(this.#dir, name), { force: true });
  }
}

/**
 * Opens (creating) a generation's log for appending. With fsync it is opened O_DSYNC: a
 * write returns once its data (and the file size) are on the disk, one system call
 * where write + fdatasync takes two trips to libuv's thread pool (about 130 against
 * 160-200 µs of CPU per batch here, 1 Dec 2026).
 */
function openLog(dir: string, gen: number, fsync: boolean): number {
  const flags = constants.O_RDWR | constants.O_CREAT | constants.O_APPEND | (fsync ? constants.O_DSYNC : 0);
  return openSync(join(dir, logName(gen)), flags, 0o644);
}

/**
 * Reads the snapshot of `base` (if any) and the given logs. A torn tail is allowed only
 * at the end of the last log: it is cut off (and reported); damage anywhere else throws.
 */
function readRecords(dir: string, base: number, logs: number[], onTornTail: JournalOptions['onTornTail'], apply: (payload: Buffer) => void): void {
  const files = [...(base > 0 ? [snapName(base)] : []), ...logs.map(logName)];
  files.forEach((name, i) => {
    const path = join(dir, name);
    const found = scan(readFileSync(path));
    if (found.damage !== undefined) {
      if (i !== files.length - 1 || !name.endsWith('.log')) {
        throw new Error(`inbox journal: ${path} is damaged (${found.damage}); it was not written by a crash: restore it from a backup or move it away`);
      }
      onTornTail(path, found.damage);
      const fd = openSync(path, 'r+');
      try {
        ftruncateSync(fd, found.end);
      } finally {
        closeSync(fd);
      }
    }
    for (const p of found.payloads) apply(p);
  });
}
