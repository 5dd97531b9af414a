import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { LEGACY_EPOCH, type AppendOptions, type AppendResult, type Inbox, type InboxEntry, type InboxOptions, type NewInboxEntry } from '../inbox.js';
import {
  checkAppendOptions,
  checkCount,
  checkEntry,
  checkEpoch,
  checkOptions,
  checkUserId,
  closedError,
  expiryCutoff,
  isExpired,
  newEpoch,
} from '../inbox-rules.js';
import { checkCommitWindow, GroupCommit, DEFAULT_LAZY_DELAY_MS } from './group-commit.js';
import { SeqCounters } from './inbox-counters.js';
import { DedupSweeps, LmdbDedupRecords } from './inbox-dedup.js';
import { MAP_RESERVE_BYTES } from './map-reserve.js';
import { decodeEntry, decodeUser, encodeEntry, encodeUser, type EntryValue, type StoredEntry, type UserState, type UserValue } from './inbox-records.js';

/** The environment file the inbox keeps inside its directory (plus `inbox.mdb-lock`). */
export const INBOX_FILE = 'inbox.mdb';

/** Upper bound for seq in range keys; seqs are safe integers far below it. */
const MAX_SEQ = Number.MAX_SAFE_INTEGER;

/** Expired entries removed per write transaction by sweep(), to keep each one short. */
const SWEEP_BATCH = 512;

type EntryKey = [userId: string, seq: number];
type ExpiryKey = [timestamp: number, userId: string, seq: number];

/** Key in `meta` of the layout version; 2 = every user record carries an epoch. */
const LAYOUT_VERSION_KEY = 'layout';
const LAYOUT_EPOCHS = 2;

/**
 * The durable inbox of a single node, in an LMDB environment of its own:
 * `<path>/inbox.mdb`. Using its own file (rather than the directory environment
 * other engines may open at `path`) guarantees the sync settings below no matter
 * who opens the directory first.
 *
 * Durability: by default (fsync: true) the environment is opened with lmdb's
 * default syncing and overlappingSync off, so a write transaction's promise resolves
 * only after LMDB committed it AND fsynced it. An append that resolved survives kill
 * -9 of the process and a power loss (as far as the disk honours fsync). With fsync:
 * false it resolves at commit (the data is in the OS page cache, which outlives the
 * process) and the fsync follows, so it survives kill -9 but not a power loss.
 *
 * Group commit (group-commit.ts): every mutation is queued and written in the next
 * group commit, one LMDB transaction (one commit, one fsync) for everything queued,
 * with at most one in flight; what arrives meanwhile goes into the next one. Appends
 * and takeDropped start a commit `commitWindowMs` after they are called (default 0:
 * on the next turn; Offline.CommitWindow, 3 ms, in the gateway), so appends that
 * follow within it share the commit; acks and sweeps wait up to DEFAULT_LAZY_DELAY_MS
 * to share one, so an ack usually costs no commit of its own.
 * Seqs are handed out at call time from counters in memory (inbox-counters.ts), so a
 * caller can deliver an entry live while it is being written (AppendOptions.onAssigned).
 *
 * Layout, one named sub-database per kind of record (values are msgpack):
 *  - `entries`: [userId, seq] -> {mid, from, to, content, timestamp}. Array keys are
 *    ordered element by element, so one user's entries are one contiguous, seq-ordered
 *    range, and user ids that prefix each other ('a', 'a:b') cannot mix.
 *  - `expiry`:  [timestamp, userId, seq] -> true. An index so sweep() scans only
 *    what has expired instead of every entry.
 *  - `users`:   userId -> {epoch, last, live, dropped}. Survives every ack and trim, so
 *    seqs are never reused and dropped counts are not lost across restarts. The epoch
 *    is chosen when the record is created; records written before epochs existed are
 *    given LEGACY_EPOCH once, at the first open of the file by this version.
 *  - `dedup`, `dedupExpiry`: de-duplication records (inbox-dedup.ts), written in the
 *    append's transaction, so a record survives kill -9 exactly like its entry.
 *  - `meta`:    layout version.
 *
 * Atomicity and ordering: every mutation (append, ack, takeDropped, a sweep batch)
 * runs as one child transaction inside its group commit: its callback reads the user
 * record, writes, and either all of it commits or (if it throws) none of it does.
 * Mutations run in call order, and appends take increasing seqs in call order. The
 * counters in memory assume this process is the file's only writer while it is open
 * (another process may open it after this one closed, as a restart does).
 *
 * Reads (read, lastSeq) are synchronous LMDB reads of committed state; a mutation
 * still in flight is not visible to them.
 */
export class LmdbInbox implements Inbox {
  readonly #opts: InboxOptions;
  readonly #clock: () => number;
  readonly #root: RootDatabase;
  readonly #entries: Database<EntryValue, EntryKey>;
  readonly #expiry: Database<true, ExpiryKey>;
  readonly #users: Database<UserValue, string>;
  readonly #dedup: LmdbDedupRecords;
  readonly #meta: Database<number, string>;
  readonly #commits: GroupCommit;
  readonly #counters = new SeqCounters();
  readonly publishesLive = false;
  /** Mutations queued and not yet settled; lets takeDropped skip a write when nothing can change. */
  #pending = 0;
  /** Lazy sweeps of expired de-duplication records, queued by appends (see DedupSweeps). */
  readonly #dedupSweeps: DedupSweeps;
  #closing: Promise<void> | undefined;

  private constructor(opts: InboxOptions, clock: () => number, root: RootDatabase, lazyDelayMs: number, commitWindowMs: number) {
    this.#opts = opts;
    this.#clock = clock;
    this.#root = root;
    this.#entries = root.openDB<EntryValue, EntryKey>({ name: 'entries' });
    this.#expiry = root.openDB<true, ExpiryKey>({ name: 'expiry' });
    this.#users = root.openDB<UserValue, string>({ name: 'users' });
    this.#dedup = new LmdbDedupRecords(root);
    this.#meta = root.openDB<number, string>({ name: 'meta' });
    this.#commits = new GroupCommit(root, lazyDelayMs, commitWindowMs);
    this.#dedupSweeps = new DedupSweeps(this.#dedup, (fn) => this.#write(fn, false), clock);
  }

  /** Gives every user record stored before epochs existed the stable LEGACY_EPOCH, once per file. */
  async #upgrade(): Promise<void> {
    if (this.#meta.get(LAYOUT_VERSION_KEY) === LAYOUT_EPOCHS) return;
    await this.#write(() => {
      for (const { key, value } of Array.from(this.#users.getRange())) {
        const state = decodeUser(value)!;
        if (typeof state.epoch !== 'string') this.#users.put(key, encodeUser({ ...state, epoch: LEGACY_EPOCH }));
      }
      this.#meta.put(LAYOUT_VERSION_KEY, LAYOUT_EPOCHS);
    }, true);
  }

  /**
   * Opens (creating when missing) the inbox stored in directory `path`. Throws a
   * RangeError for bad options and lmdb's error when the file cannot be opened.
   */
  static async open(opts: InboxOptions & { path: string; fsync?: boolean; commitWindowMs?: number }, clock: () => number = Date.now): Promise<LmdbInbox> {
    const { path, fsync = true, commitWindowMs = 0, ...inboxOpts } = opts ?? ({} as InboxOptions & { path: string });
    checkOptions(inboxOpts);
    if (typeof path !== 'string' || path.length === 0) {
      throw new RangeError('LmdbInbox.open needs a non-empty directory path');
    }
    // Before the environment is opened, so a bad value leaves nothing open.
    checkCommitWindow(commitWindowMs);
    mkdirSync(path, { recursive: true });
    const root = open({
      path: join(path, INBOX_FILE),
      // fsync (default): resolve write promises only after the commit is fsynced (see
      // class doc). Without it, lmdb resolves at commit and fsyncs right after.
      overlappingSync: !fsync,
      encoding: 'msgpack',
      mapSize: MAP_RESERVE_BYTES,
    });
    const inbox = new LmdbInbox(inboxOpts, clock, root, DEFAULT_LAZY_DELAY_MS, commitWindowMs);
    try {
      await inbox.#upgrade();
    } catch (err) {
      await inbox.close();
      throw err;
    }
    return inbox;
  }

  /**
   * `options.live` is ignored (publishesLive is false): the caller publishes, and may do
   * so from `options.onAssigned`, which is called synchronously with the seq taken from
   * the counter in memory (see SeqCounters) before the entry is written. A resend found
   * by `options.dedup` is answered from the committed record, or, while the original
   * append is still being written, with the original's outcome once it settles (it
   * rejects when the original does).
   */
  async append(userId: string, entry: NewInboxEntry, options?: AppendOptions): Promise<AppendResult> {
    this.#checkOpen();
    checkUserId(userId);
    checkEntry(entry);
    checkAppendOptions(options);
    const dedup = options?.dedup;
    const now = this.#clock();
    if (dedup) {
      const original = this.#counters.inFlight(userId, dedup.key);
      if (original) return original;
      const duplicate = this.#dedup.peek(userId, dedup.key, dedup.ttlMs, now);
      if (duplicate) return duplicate;
    }
    const stored: StoredEntry = {
      mid: entry.mid,
      from: entry.from,
      to: entry.to,
      content: entry.content,
      timestamp: entry.timestamp,
    };
    const { seq, epoch } = this.#counters.next(userId, () => this.#user(userId));
    const outcome = this.#write((): AppendResult => {
      const state = this.#user(userId) ?? { epoch, last: 0, live: 0, dropped: 0 };
      // Only another writer of the file could have changed it under the counter.
      if (state.epoch !== epoch) throw new Error(`inbox: the epoch of ${JSON.stringify(userId)} changed under its counter`);
      if (dedup) this.#dedup.write(userId, dedup.key, dedup.ttlMs, now, { seq, epoch, mid: stored.mid, timestamp: stored.timestamp });
      this.#entries.put([userId, seq], encodeEntry(stored));
      this.#expiry.put([stored.timestamp, userId, seq], true);
      state.last = Math.max(state.last, seq);
      state.live += 1;
      let dropped = 0;
      const overflow = state.live - this.#opts.maxPerUser;
      if (overflow > 0) {
        const oldest = this.#entryList({ start: [userId, 0], end: [userId, MAX_SEQ], limit: overflow });
        for (const { key, value } of oldest) this.#remove(key, value);
        dropped = oldest.length;
        state.live -= dropped;
        state.dropped += dropped;
      }
      this.#users.put(userId, encodeUser(state));
      return { seq, epoch, dropped };
    }, true);
    outcome.then(() => this.#counters.settled(userId, true), () => this.#counters.settled(userId, false));
    if (dedup) {
      const answer = { mid: stored.mid, timestamp: stored.timestamp };
      this.#counters.track(userId, dedup.key, outcome.then((r) => ({ seq: r.seq, epoch: r.epoch, dropped: 0, duplicate: answer })));
    }
    if (dedup) this.#dedupSweeps.afterAppend();
    options?.onAssigned?.(seq, epoch);
    return outcome;
  }

  async read(userId: string, after: number, limit: number): Promise<InboxEntry[]> {
    this.#checkOpen();
    checkUserId(userId);
    checkCount('after', after);
    checkCount('limit', limit);
    const out: InboxEntry[] = [];
    if (limit === 0) return out;
    const state = this.#user(userId);
    // No committed entry (every entry has its user record: a user never written to, or
    // one who acknowledged everything, the common case at every connect): no cursor,
    // which costs more than the read itself.
    if (state === undefined || state.live === 0) return out;
    const now = this.#clock();
    const epoch = state.epoch ?? LEGACY_EPOCH;
    // Lazy range: stops reading as soon as `limit` unexpired entries are found.
    for (const { key, value: stored } of this.#entries.getRange({ start: [userId, after + 1], end: [userId, MAX_SEQ] })) {
      const value = decodeEntry(stored);
      if (isExpired(value.timestamp, now, this.#opts.ttlMs)) continue;
      out.push(toEntry(key[1], epoch, value));
      if (out.length >= limit) break;
    }
    return out;
  }

  /** Expired entries inside the acknowledged range are removed too, but counted as dropped, not returned. */
  async ack(userId: string, upTo: number, epoch?: string): Promise<InboxEntry[]> {
    this.#checkOpen();
    checkUserId(userId);
    checkCount('upTo', upTo);
    checkEpoch(epoch);
    return this.#write(() => {
      const state = this.#user(userId);
      if (!state || state.live === 0) return [];
      if (epoch !== undefined && epoch !== state.epoch) return [];
      const end = Math.min(upTo, state.last) + 1;
      const removed = this.#entryList({ start: [userId, 0], end: [userId, end] });
      if (removed.length === 0) return [];
      const now = this.#clock();
      const out: InboxEntry[] = [];
      for (const { key, value } of removed) {
        this.#remove(key, value);
        if (isExpired(value.timestamp, now, this.#opts.ttlMs)) state.dropped += 1;
        else out.push(toEntry(key[1], state.epoch, value));
      }
      state.live -= removed.length;
      this.#users.put(userId, encodeUser(state));
      return out;
    }, false);
  }

  async takeDropped(userId: string): Promise<number> {
    this.#checkOpen();
    checkUserId(userId);
    // Fast path (the common case, asked on every connect): nothing recorded, the oldest
    // entry has not expired and no mutation of ours is queued that could change either,
    // so no write transaction is needed.
    if (this.#pending === 0) {
      const state = this.#user(userId);
      if (state === undefined || (!state.dropped && (state.live === 0 || !this.#oldestExpired(userId, this.#clock())))) return 0;
    }
    return this.#write(() => {
      const state = this.#user(userId);
      if (!state) return 0;
      this.#expireUser(userId, state, this.#clock());
      if (state.dropped === 0) return 0;
      const n = state.dropped;
      state.dropped = 0;
      this.#users.put(userId, encodeUser(state));
      return n;
    }, true);
  }

  async lastSeq(userId: string): Promise<number> {
    this.#checkOpen();
    checkUserId(userId);
    return this.#user(userId)?.last ?? 0;
  }

  /**
   * Works in transactions of up to SWEEP_BATCH entries; each batch is atomic, the whole
   * sweep is not. Rejects, after sweeping, when a background dedup sweep (queued by
   * appends) failed since the last call, so the failure reaches the caller's log.
   */
  async sweep(now: number = this.#clock()): Promise<number> {
    this.#checkOpen();
    if (typeof now !== 'number' || Number.isNaN(now)) throw new RangeError('inbox: sweep(now) needs a number');
    const cutoff = expiryCutoff(now, this.#opts.ttlMs);
    let total = 0;
    for (;;) {
      const removed = await this.#write(() => this.#sweepBatch(cutoff), false);
      total += removed;
      if (removed < SWEEP_BATCH || this.#closing) break;
    }
    while (!this.#closing && (await this.#write(() => this.#dedup.sweepBatch(now, SWEEP_BATCH), false)) === SWEEP_BATCH);
    const background = this.#dedupSweeps.takeError();
    if (background !== undefined) {
      throw new Error('inbox: a background sweep of de-duplication records failed since the last sweep', { cause: background });
    }
    return total;
  }

  /** Stops accepting calls, writes what is queued (lazy writes too, at once), closes the environment. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#commits.drain().then(() => this.#root.close());
    return this.#closing;
  }

  #sweepBatch(cutoff: number): number {
    if (cutoff === -Infinity) return 0;
    // Keys [timestamp, ...] below [cutoff] are exactly those with timestamp < cutoff.
    // Collected before removing: the cursor must not walk keys being deleted.
    const expired = Array.from(this.#expiry.getKeys({ end: [cutoff], limit: SWEEP_BATCH }));
    const perUser = new Map<string, number>();
    for (const [timestamp, userId, seq] of expired) {
      this.#entries.remove([userId, seq]);
      this.#expiry.remove([timestamp, userId, seq]);
      perUser.set(userId, (perUser.get(userId) ?? 0) + 1);
    }
    for (const [userId, n] of perUser) {
      const state = this.#user(userId);
      // Every entry has its user record; a missing one means the file was edited by hand.
      if (!state) throw new Error(`inbox: expired entries of ${JSON.stringify(userId)} have no user record`);
      state.live -= n;
      state.dropped += n;
      this.#users.put(userId, encodeUser(state));
    }
    return expired.length;
  }

  /** True when the user's oldest entry (lowest seq) has expired at `now`. */
  #oldestExpired(userId: string, now: number): boolean {
    for (const { value } of this.#entries.getRange({ start: [userId, 0], end: [userId, MAX_SEQ], limit: 1 })) {
      return isExpired(decodeEntry(value).timestamp, now, this.#opts.ttlMs);
    }
    return false;
  }

  /**
   * Inside a write transaction: when the user's oldest entry has expired, removes every
   * expired entry of the user and counts it as dropped in `state` (which the caller
   * puts). Keyed on the oldest entry because one node stamps entries in seq order; an
   * entry stamped out of order behind an unexpired one is counted by the next sweep.
   */
  #expireUser(userId: string, state: UserState, now: number): void {
    if (!this.#oldestExpired(userId, now)) return;
    const expired = this.#entryList({ start: [userId, 0], end: [userId, MAX_SEQ] })
      .filter(({ value }) => isExpired(value.timestamp, now, this.#opts.ttlMs));
    for (const { key, value } of expired) this.#remove(key, value);
    state.live -= expired.length;
    state.dropped += expired.length;
  }

  /** Removes one entry and its expiry index key (inside a write transaction). */
  #remove(key: EntryKey, value: StoredEntry): void {
    this.#entries.remove(key);
    this.#expiry.remove([value.timestamp, key[0], key[1]]);
  }

  /**
   * Runs `fn` as an atomic, abortable write queued behind every earlier one, in the
   * next group commit (see GroupCommit: `urgent` for appends someone waits on);
   * resolves with its result after the commit is on disk, rejects (with nothing of it
   * written) when it throws or the commit fails.
   */
  async #write<T>(fn: () => T, urgent: boolean): Promise<T> {
    this.#pending += 1;
    try {
      return await this.#commits.run(fn, urgent);
    } finally {
      this.#pending -= 1;
    }
  }

  /** The entries of a key range, decoded, collected before the caller removes any. */
  #entryList(range: { start: EntryKey; end: EntryKey; limit?: number }): { key: EntryKey; value: StoredEntry }[] {
    return Array.from(this.#entries.getRange(range), ({ key, value }) => ({ key, value: decodeEntry(value) }));
  }

  /** The user's committed record, whichever form it was written in. */
  #user(userId: string): UserState | undefined {
    return decodeUser(this.#users.get(userId));
  }

  #checkOpen(): void {
    if (this.#closing) throw closedError();
  }
}

function toEntry(seq: number, epoch: string, value: StoredEntry): InboxEntry {
  return { seq, epoch, mid: value.mid, from: value.from, to: value.to, content: value.content, timestamp: value.timestamp };
}
