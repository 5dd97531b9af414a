import { randomBytes } from 'node:crypto';

/**
 * Unique ids without coordination: a per-process random prefix plus a counter,
 * base36. Unique across nodes and restarts (the prefix is 64 random bits), sortable
 * within one process, and cheap enough for the per-message path.
 */
export class IdGenerator {
  readonly #prefix: string;
  #counter = 0;

  constructor(prefix = randomBytes(8).toString('hex')) {
    this.#prefix = prefix;
  }

  /**
   * For connection ids, which a node holds one of per connection: 12 characters, a
   * prefix of 31 random bits and a counter of 6, base36. V8 keeps a string shorter than
   * 13 characters as one flat string (32 bytes); a longer one built from two parts is a
   * concatenation holding both (about 90 bytes per id once it is hashed as a map key).
   * 31 bits tell apart the processes whose connections are alive at one time; message
   * ids, which are stored, keep the 64-bit prefix. Past 36^6 connections the ids grow a
   * character (still unique, just larger).
   */
  static forConnections(): IdGenerator {
    return new IdGenerator((randomBytes(4).readUInt32BE(0) >>> 1).toString(36).padStart(6, '0'));
  }

  next(): string {
    this.#counter += 1;
    return `${this.#prefix}${this.#counter.toString(36).padStart(6, '0')}`;
  }
}
