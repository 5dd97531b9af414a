import { open } from 'lmdb';
import { LEGACY_EPOCH } from '../inbox.js';
import type { InboxState } from '../inbox-state.js';
import { decodeEntry, decodeUser, type EntryValue, type UserValue } from './inbox-records.js';
import { readDedupRecord, type StoredDedupRecord } from './inbox-dedup.js';

/**
 * Copies everything an LmdbInbox file holds into `state` (which must be empty): every
 * user's counter, epoch and dropped count, its entries (expired ones included: the
 * inbox that takes them over expires them itself) and its de-duplication records.
 * For moving a node from the LMDB engine to the journal. Opens the file read-only.
 */
export async function exportLmdbInbox(file: string, state: InboxState): Promise<void> {
  const root = open({ path: file, encoding: 'msgpack', readOnly: true });
  try {
    const users = root.openDB<UserValue, string>({ name: 'users' });
    const entries = root.openDB<EntryValue, [string, number]>({ name: 'entries' });
    const dedup = root.openDB<StoredDedupRecord, [string, string]>({ name: 'dedup' });
    for (const { key: userId, value } of users.getRange()) {
      const user = decodeUser(value)!;
      const box = state.open(userId, typeof user.epoch === 'string' ? user.epoch : LEGACY_EPOCH);
      box.last = user.last;
      box.dropped = user.dropped;
    }
    for (const { key: [userId, seq], value } of entries.getRange()) {
      const box = state.users.get(userId);
      if (!box) throw new Error(`inbox import: an entry of ${JSON.stringify(userId)} has no user record in ${file}`);
      const e = decodeEntry(value);
      box.entries.push({ seq, epoch: box.epoch, mid: e.mid, from: e.from, to: e.to, content: e.content, timestamp: e.timestamp });
    }
    // In writtenAt order, as InboxState keeps them (oldest first).
    const records = Array.from(dedup.getRange(), ({ key: [userId, key], value }) => ({ userId, key, record: readDedupRecord(value) }))
      .sort((a, b) => a.record.writtenAt - b.record.writtenAt);
    for (const { userId, key, record } of records) {
      const box = state.users.get(userId);
      if (!box) continue;
      box.dedup.set(key, { seq: record.seq, epoch: record.epoch, mid: record.mid, timestamp: record.timestamp, writtenAt: record.writtenAt, ttlMs: record.expires - record.writtenAt });
    }
  } finally {
    await root.close();
  }
}
