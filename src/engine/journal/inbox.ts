import type { InboxOptions } from '../inbox.js';
import { checkOptions } from '../inbox-rules.js';
import { InboxState, pruneDedup } from '../inbox-state.js';
import { StateInbox } from '../state-inbox.js';
import { checkCommitWindow } from '../lmdb/group-commit.js';
import { existsSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { INBOX_FILE as LMDB_INBOX_FILE } from '../lmdb/inbox.js';
import { exportLmdbInbox } from '../lmdb/inbox-export.js';
import { COMPACT_MIN_BYTES, Compactor, snapTemp, writeSnapshot } from './compaction.js';
import { logName } from './files.js';
import { Journal, type JournalOptions } from './journal.js';
import { ackRecord, appendRecord, applyRecord, sweepRecord, takeRecord, userRecord } from './records.js';

export interface JournalInboxOptions extends InboxOptions {
  /** Directory of the journal's files (created when missing). */
  path: string;
  /** Default true: an append resolves after its batch is synced to the disk (survives a power loss). */
  fsync?: boolean;
  /** Default 0 (ms, 0..1000): how long an append waits for others to share its write. */
  commitWindowMs?: number;
  /** Where problems that reject no caller are reported (a torn tail cut at open, a failed compaction). */
  warn?: (message: string, err?: Error) => void;
  /** Compaction threshold (tests use small ones); default COMPACT_MIN_BYTES. */
  compactMinBytes?: number;
  /** node:fs writev unless given: for tests of a failing disk. */
  writev?: JournalOptions['writev'];
}

/**
 * The durable inbox of a single node as a journal: the state lives in memory
 * (InboxState, as in MemoryInbox), and every mutation is appended to a log on disk
 * (journal.ts) before its promise resolves; opening the directory replays the log.
 * A message costs one record of about its own size in one sequential, synchronous
 * write shared by every mutation of its batch, where a B-tree store writes a dozen or
 * more pages per commit and then syncs.
 *
 * Durability: with fsync (default) an append resolves after its batch is written with
 * O_DSYNC (on the disk): it survives kill -9 and a power loss. Without it, after the write: it
 * survives kill -9 (the OS holds the data), not a power loss. Writes are grouped: an
 * append waits `commitWindowMs` for others to share its write; acks, takeDropped and
 * sweeps wait up to LAZY_DELAY_MS (journal.ts) for an append to ride with.
 *
 * Ordering, atomicity, copying and visibility are StateInbox's: each call changes the
 * state in memory synchronously, in call order, and queues its record in the same
 * order, so the file replays to the same state. Seqs are assigned at call time and
 * `onAssigned` is called before the record is durable; a replay read can return an
 * entry whose append is still being written.
 *
 * Failure: when a batch cannot be written (a full disk), its appends and every call
 * queued after it reject, and the state is rebuilt from what the files hold; seqs
 * handed out meanwhile stay burnt (the counters never go back).
 *
 * Memory: every unacknowledged entry and every de-duplication record in force is in
 * the heap (the MaxPerUser and TTL limits bound it).
 */
export class JournalInbox extends StateInbox {
  readonly #opts: InboxOptions;
  readonly #warn: (message: string, err?: Error) => void;
  #journal!: Journal;
  #compactor: Compactor | undefined;
  #checkQueued = false;

  private constructor(opts: InboxOptions, clock: () => number, warn: (message: string, err?: Error) => void) {
    // Not async: an entry whose content msgpack refuses throws before the state changes.
    super(opts, clock, {
      append: (userId, epoch, seq, now, entry, dedup) => this.#write(appendRecord(userId, epoch, seq, now, entry, dedup), true),
      ack: (userId, upTo, now, epoch) => this.#write(ackRecord(userId, upTo, now, epoch), false),
      take: (userId, now) => this.#write(takeRecord(userId, now), false),
      sweep: (now) => this.#write(sweepRecord(now), false),
      flushed: () => this.#journal.flushed(),
      touch: (userId) => this.#compactor?.touch(userId),
    });
    this.#opts = opts;
    this.#warn = warn;
  }

  /** Opens (creating when missing) the journal in `path` and replays it. Throws a RangeError for bad options. */
  static async open(opts: JournalInboxOptions, clock: () => number = Date.now): Promise<JournalInbox> {
    const { path, fsync = true, commitWindowMs = 0, warn = () => {}, compactMinBytes = COMPACT_MIN_BYTES, writev, ...inboxOpts } = opts ?? ({} as JournalInboxOptions);
    checkOptions(inboxOpts);
    if (typeof path !== 'string' || path.length === 0) throw new RangeError('JournalInbox.open needs a non-empty directory path');
    checkCommitWindow(commitWindowMs);
    const inbox = new JournalInbox(inboxOpts, clock, warn);
    const state = new InboxState(inboxOpts);
    const { journal, created } = Journal.open(path, {
      fsync,
      commitWindowMs,
      writev,
      onFailure: (err) => inbox.#rebuild(err),
      onTornTail: (file, damage) => warn(`inbox journal: cut a torn record (${damage}) off the end of ${file}, left by a crash mid-write`),
    }, (payload) => applyRecord(state, payload));
    settle(state, clock());
    inbox.state = state;
    inbox.#journal = journal;
    try {
      const legacy = join(path, LMDB_INBOX_FILE);
      if (existsSync(legacy)) {
        if (created) await inbox.#importLmdb(legacy, clock());
        else warn(`inbox journal: ${legacy} (an LMDB inbox) is beside the journal and is not read; the journal holds the inbox`);
      }
    } catch (err) {
      await journal.close();
      // A failed import leaves no journal behind, so the next start tries it again.
      if (created) rmSync(join(path, logName(journal.generation)), { force: true });
      throw err;
    }
    inbox.#compactor = new Compactor(journal, () => inbox.state, clock, (err) => warn('inbox journal: compaction failed; the log keeps growing until the next try', err), compactMinBytes);
    return inbox;
  }

  /**
   * Takes over what an LMDB inbox left in the same directory (Offline.Engine was lmdb
   * before): its state becomes the journal's first snapshot, and the LMDB file is
   * renamed `inbox.mdb.imported` (kept, never read again).
   */
  async #importLmdb(file: string, now: number): Promise<void> {
    const state = new InboxState(this.#opts);
    await exportLmdbInbox(file, state);
    const gen = this.#journal.generation;
    await writeSnapshot(this.#journal.dir, gen, state, now);
    this.#journal.installSnapshot(gen, snapTemp(this.#journal.dir, gen));
    renameSync(file, `${file}.imported`);
    rmSync(`${file}-lock`, { force: true });
    this.state = state;
    let entries = 0;
    for (const box of state.users.values()) entries += box.entries.length;
    this.#warn(`inbox journal: imported ${state.users.size} users and ${entries} stored messages from ${file}, now renamed ${file}.imported`);
  }

  /** Abandons a compaction under way, writes what is queued, closes the files. */
  protected override async release(): Promise<void> {
    await this.#compactor?.close();
    await this.#journal.close();
    await super.release();
  }

  /** Resolves when the compaction under way (if any) has finished: for tests. */
  compacted(): Promise<void> {
    return this.#compactor?.idle() ?? Promise.resolve();
  }

  /** Starts a compaction now, whatever the log's size (unless one is running), and resolves when it has finished. */
  async compact(): Promise<void> {
    await Promise.resolve();
    this.#compactor?.check(true);
    await this.compacted();
  }

  #write(record: Uint8Array, urgent: boolean): Promise<void> {
    const written = this.#journal.write(record, urgent);
    if (!this.#checkQueued) {
      this.#checkQueued = true;
      // Not now: the call writing this record has not changed the state yet, and a
      // snapshot must start from a state that holds exactly what the log holds. Every
      // call changes the state synchronously, so by the next microtask it has.
      queueMicrotask(() => {
        this.#checkQueued = false;
        this.#compactor?.check();
      });
    }
    return written;
  }

  /**
   * After a failed write: the state becomes what the files hold, except that no user's
   * counter goes back (a seq handed out live stays burnt) and no epoch changes. Users
   * whose counter was ahead of the files get a USER record restating it.
   */
  #rebuild(err: Error): void {
    this.#warn('inbox journal: a write failed; the appends in it and after it were refused, and the state was reloaded from disk', err);
    this.#compactor?.abort(new Error('inbox journal: the state was reloaded after a failed write', { cause: err }));
    const counters = new Map(Array.from(this.state.users, ([userId, box]) => [userId, { epoch: box.epoch, last: box.last }]));
    const state = new InboxState(this.#opts);
    try {
      this.#journal.load((payload) => applyRecord(state, payload));
      settle(state, this.clock());
    } catch (loadErr) {
      this.#warn('inbox journal: could not reload the state after a failed write; keeping the state in memory', loadErr as Error);
      return;
    }
    this.state = state;
    for (const [userId, { epoch, last }] of counters) {
      const box = state.users.get(userId) ?? state.open(userId, epoch);
      if (box.epoch === epoch && box.last >= last) continue;
      if (box.epoch !== epoch) {
        box.epoch = epoch;
        box.entries = [];
        box.dedup.clear();
      }
      box.last = last;
      this.#journal.write(userRecord(userId, epoch, last, box.dropped), false).catch((restateErr: Error) =>
        this.#warn(`inbox journal: could not restate the counter of ${JSON.stringify(userId)}`, restateErr));
    }
  }
}

/** Drops the de-duplication records expired at `now` from a replayed state (records are pruned only as resends look them up). */
function settle(state: InboxState, now: number): void {
  for (const box of state.users.values()) pruneDedup(box.dedup, now);
}
