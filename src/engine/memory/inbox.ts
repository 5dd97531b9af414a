import type { InboxOptions } from '../inbox.js';
import { checkOptions } from '../inbox-rules.js';
import { StateInbox } from '../state-inbox.js';

/**
 * The in-process inbox for single-node deployments and tests: a StateInbox with
 * nothing behind it (see StateInbox for ordering, copying and visibility).
 *
 * NOT DURABLE: everything lives in this process's heap and is lost when it exits;
 * "append resolved" only means "stored in memory". It is not shared between
 * processes or gateway nodes. Use JournalInbox or LmdbInbox (one node) or the Redis
 * engine (a cluster) when offline messages must survive a restart. The record of a
 * user (its last seq and epoch) is kept for the life of the process, even after all
 * its entries are gone; a new process starts every user in a new epoch.
 */
export class MemoryInbox extends StateInbox {
  constructor(opts: InboxOptions, clock: () => number = Date.now) {
    super({ ...checkOptions(opts) }, clock);
  }
}
