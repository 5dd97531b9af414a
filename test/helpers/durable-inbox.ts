/**
 * The durable inbox engines, opened the same way by the crash test and its writer
 * child. The journal compacts every 64 KB here, so a kill can land mid-compaction.
 */
import type { Inbox } from '../../src/engine/inbox.js';
import { JournalInbox } from '../../src/engine/journal/inbox.js';
import { LmdbInbox } from '../../src/engine/lmdb/inbox.js';

export const DURABLE_ENGINES = ['lmdb', 'journal'] as const;
export type DurableEngine = (typeof DURABLE_ENGINES)[number];

export const WRITER_OPTIONS = { maxPerUser: 1_000_000, ttlMs: 24 * 3600 * 1000 };

export async function openDurableInbox(engine: string, dir: string): Promise<Inbox> {
  switch (engine) {
    case 'lmdb':
      return LmdbInbox.open({ ...WRITER_OPTIONS, path: dir });
    case 'journal':
      return JournalInbox.open({ ...WRITER_OPTIONS, path: dir, compactMinBytes: 64 * 1024 });
    default:
      throw new Error(`unknown durable engine ${engine}`);
  }
}
