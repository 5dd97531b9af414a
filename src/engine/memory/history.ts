import { randomBytes } from 'node:crypto';
import { removeHead } from './array-head.js';
import {
  checkCount, checkEntry, checkGroup, checkLimits, historyClosed, type GroupHistory, type HistoryEntry, type HistoryPage, type NewHistoryEntry, type RetentionLimits,
} from '../history.js';

interface Kept extends HistoryEntry {
  expiresAt: number;
}

interface GroupState {
  epoch: string;
  top: number;
  /** In offset order. */
  entries: Kept[];
}

/** A new random epoch: 12 base64url characters. */
export function newEpoch(): string {
  return randomBytes(9).toString('base64url');
}

/**
 * Group history in this process's memory: single node only, and lost on restart,
 * which is exactly what the epoch is for (every group starts a new epoch in a new
 * process, so no client is told it missed nothing). For tests and development; the
 * single-node default is LMDB.
 *
 * A group whose every entry has expired is forgotten by sweep(), epoch included: a
 * later append starts a new epoch.
 */
export class MemoryGroupHistory implements GroupHistory {
  readonly #groups = new Map<string, GroupState>();
  readonly #clock: () => number;
  #closed = false;

  constructor(clock: () => number = Date.now) {
    this.#clock = clock;
  }

  async append(group: string, entry: NewHistoryEntry, limits: RetentionLimits): Promise<{ offset: number; epoch: string }> {
    this.#open();
    checkGroup(group);
    checkEntry(entry);
    checkLimits(limits);
    let state = this.#groups.get(group);
    if (state === undefined) {
      state = { epoch: newEpoch(), top: 0, entries: [] };
      this.#groups.set(group, state);
    }
    state.top += 1;
    const kept: Kept = { offset: state.top, mid: entry.mid, from: entry.from, content: entry.content, timestamp: entry.timestamp, expiresAt: entry.timestamp + limits.ttlMs };
    if (entry.important === true) kept.important = true;
    state.entries.push(kept);
    // Expired entries leave from the front (reads skip any others); then trim to size, in one removal.
    const now = this.#clock();
    let drop = Math.max(0, state.entries.length - limits.size);
    while (drop < state.entries.length && state.entries[drop]!.expiresAt < now) drop += 1;
    if (drop > 0) removeHead(state.entries, drop);
    return { offset: state.top, epoch: state.epoch };
  }

  async read(group: string, after: number, limit: number): Promise<HistoryPage> {
    this.#open();
    checkGroup(group);
    checkCount('after', after);
    checkCount('limit', limit);
    const state = this.#groups.get(group);
    if (state === undefined) return { epoch: '', offset: 0, entries: [] };
    const now = this.#clock();
    const entries: HistoryEntry[] = [];
    for (const e of state.entries) {
      if (entries.length >= limit) break;
      if (e.offset > after && e.expiresAt >= now) entries.push(view(e));
    }
    return { epoch: state.epoch, offset: state.top, entries };
  }

  async page(group: string, before: number | undefined, limit: number): Promise<HistoryPage> {
    this.#open();
    checkGroup(group);
    if (before !== undefined) checkCount('before', before);
    checkCount('limit', limit);
    const state = this.#groups.get(group);
    if (state === undefined) return { epoch: '', offset: 0, entries: [] };
    const now = this.#clock();
    const entries: HistoryEntry[] = [];
    for (let i = state.entries.length - 1; i >= 0 && entries.length < limit; i--) {
      const e = state.entries[i]!;
      if ((before === undefined || e.offset < before) && e.expiresAt >= now) entries.push(view(e));
    }
    return { epoch: state.epoch, offset: state.top, entries: entries.reverse() };
  }

  async sweep(now: number = this.#clock()): Promise<number> {
    this.#open();
    let removed = 0;
    for (const [group, state] of this.#groups) {
      const before = state.entries.length;
      state.entries = state.entries.filter((e) => e.expiresAt >= now);
      removed += before - state.entries.length;
      if (state.entries.length === 0) this.#groups.delete(group);
    }
    return removed;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#groups.clear();
  }

  #open(): void {
    if (this.#closed) throw historyClosed();
  }
}

function view(e: Kept): HistoryEntry {
  const out: HistoryEntry = { offset: e.offset, mid: e.mid, from: e.from, content: e.content, timestamp: e.timestamp };
  if (e.important === true) out.important = true;
  return out;
}
