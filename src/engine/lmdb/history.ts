import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import {
  checkCount, checkEntry, checkGroup, checkLimits, historyClosed, type GroupHistory, type HistoryEntry, type HistoryPage, type NewHistoryEntry, type RetentionLimits,
} from '../history.js';
import { newEpoch } from '../memory/history.js';
import { MAP_RESERVE_BYTES } from './map-reserve.js';

/** The environment file the history keeps inside its directory. */
export const HISTORY_FILE = 'history.mdb';

const MAX_OFFSET = Number.MAX_SAFE_INTEGER;
/** Expired entries removed per write transaction by sweep(). */
const SWEEP_BATCH = 512;

interface Stored {
  mid: string;
  from: string;
  content: unknown;
  timestamp: number;
  expiresAt: number;
  important?: true;
}

interface Meta {
  epoch: string;
  top: number;
  /** Entries currently stored, so trimming needs no count scan. */
  live: number;
}

type EntryKey = [group: string, offset: number];
type ExpiryKey = [expiresAt: number, group: string, offset: number];

/**
 * Group history of a single node, durable, in its own LMDB environment
 * `<path>/history.mdb` (beside the inbox). Same discipline as LmdbInbox: every
 * append is one asynchronous child transaction that reads the group's meta record,
 * writes the entry and its expiry index key and trims, atomically; lmdb runs them in
 * call order, so offsets follow append order. The epoch lives in the meta record, so
 * it survives restarts; a deleted or replaced file has no meta, and the next append
 * starts a new epoch.
 *
 * Layout (values msgpack): `entries` [group, offset] → entry; `expiry`
 * [expiresAt, group, offset] → true; `meta` group → {epoch, top, live}.
 * Appends resolve once committed (overlappingSync: the fsync follows), which survives a
 * crash of the gateway: history is worth less than the inbox's fsync on every write.
 */
export class LmdbGroupHistory implements GroupHistory {
  readonly #root: RootDatabase;
  readonly #entries: Database<Stored, EntryKey>;
  readonly #expiry: Database<true, ExpiryKey>;
  readonly #meta: Database<Meta, string>;
  readonly #clock: () => number;
  #closing: Promise<void> | undefined;

  private constructor(root: RootDatabase, clock: () => number) {
    this.#root = root;
    this.#clock = clock;
    this.#entries = root.openDB<Stored, EntryKey>({ name: 'entries' });
    this.#expiry = root.openDB<true, ExpiryKey>({ name: 'expiry' });
    this.#meta = root.openDB<Meta, string>({ name: 'meta' });
  }

  /** Opens (creating when missing) the history stored in directory `path`. */
  static async open(opts: { path: string }, clock: () => number = Date.now): Promise<LmdbGroupHistory> {
    if (typeof opts?.path !== 'string' || opts.path.length === 0) throw new RangeError('LmdbGroupHistory.open needs a non-empty directory path');
    mkdirSync(opts.path, { recursive: true });
    const root = open({ path: join(opts.path, HISTORY_FILE), overlappingSync: true, encoding: 'msgpack', mapSize: MAP_RESERVE_BYTES });
    return new LmdbGroupHistory(root, clock);
  }

  async append(group: string, entry: NewHistoryEntry, limits: RetentionLimits): Promise<{ offset: number; epoch: string }> {
    this.#open();
    checkGroup(group);
    checkEntry(entry);
    checkLimits(limits);
    const stored: Stored = { mid: entry.mid, from: entry.from, content: entry.content, timestamp: entry.timestamp, expiresAt: entry.timestamp + limits.ttlMs };
    if (entry.important === true) stored.important = true;
    const now = this.#clock();
    return this.#root.childTransaction(() => {
      const meta = this.#meta.get(group) ?? { epoch: newEpoch(), top: 0, live: 0 };
      meta.top += 1;
      meta.live += 1;
      this.#entries.put([group, meta.top], stored);
      this.#expiry.put([stored.expiresAt, group, meta.top], true);
      // Oldest first: past the size, then any expired ones at the front.
      let over = meta.live - limits.size;
      for (const { key, value } of this.#entries.getRange({ start: [group, 0], end: [group, MAX_OFFSET] })) {
        if (over <= 0 && value.expiresAt >= now) break;
        this.#entries.remove(key);
        this.#expiry.remove([value.expiresAt, group, key[1]]);
        meta.live -= 1;
        over -= 1;
      }
      this.#meta.put(group, meta);
      return { offset: meta.top, epoch: meta.epoch };
    });
  }

  async read(group: string, after: number, limit: number): Promise<HistoryPage> {
    this.#open();
    checkGroup(group);
    checkCount('after', after);
    checkCount('limit', limit);
    const meta = this.#meta.get(group);
    if (meta === undefined) return { epoch: '', offset: 0, entries: [] };
    const now = this.#clock();
    const entries: HistoryEntry[] = [];
    if (limit > 0) {
      for (const { key, value } of this.#entries.getRange({ start: [group, after + 1], end: [group, MAX_OFFSET] })) {
        if (value.expiresAt < now) continue;
        entries.push(view(key[1], value));
        if (entries.length >= limit) break;
      }
    }
    return { epoch: meta.epoch, offset: meta.top, entries };
  }

  async page(group: string, before: number | undefined, limit: number): Promise<HistoryPage> {
    this.#open();
    checkGroup(group);
    if (before !== undefined) checkCount('before', before);
    checkCount('limit', limit);
    const meta = this.#meta.get(group);
    if (meta === undefined) return { epoch: '', offset: 0, entries: [] };
    const now = this.#clock();
    const entries: HistoryEntry[] = [];
    if (limit > 0) {
      const range = { start: [group, before ?? MAX_OFFSET] as EntryKey, end: [group, 0] as EntryKey, reverse: true };
      for (const { key, value } of this.#entries.getRange(range)) {
        if (before !== undefined && key[1] >= before) continue;
        if (value.expiresAt < now) continue;
        entries.push(view(key[1], value));
        if (entries.length >= limit) break;
      }
    }
    return { epoch: meta.epoch, offset: meta.top, entries: entries.reverse() };
  }

  /** Batches of SWEEP_BATCH, each atomic. Meta records stay, so epochs and offsets continue. */
  async sweep(now: number = this.#clock()): Promise<number> {
    this.#open();
    let total = 0;
    for (;;) {
      const removed = await this.#root.childTransaction(() => {
        const expired = Array.from(this.#expiry.getKeys({ end: [now], limit: SWEEP_BATCH }));
        const perGroup = new Map<string, number>();
        for (const [expiresAt, group, offset] of expired) {
          this.#entries.remove([group, offset]);
          this.#expiry.remove([expiresAt, group, offset]);
          perGroup.set(group, (perGroup.get(group) ?? 0) + 1);
        }
        for (const [group, n] of perGroup) {
          const meta = this.#meta.get(group);
          if (meta !== undefined) this.#meta.put(group, { ...meta, live: Math.max(0, meta.live - n) });
        }
        return expired.length;
      });
      total += removed;
      if (removed < SWEEP_BATCH || this.#closing) return total;
    }
  }

  close(): Promise<void> {
    this.#closing ??= this.#root.close();
    return this.#closing;
  }

  #open(): void {
    if (this.#closing) throw historyClosed();
  }
}

function view(offset: number, value: Stored): HistoryEntry {
  const out: HistoryEntry = { offset, mid: value.mid, from: value.from, content: value.content, timestamp: value.timestamp };
  if (value.important === true) out.important = true;
  return out;
}
