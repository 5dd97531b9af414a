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

  next(): string {
    this.#counter += 1;
    return `${this.#prefix}${this.#counter.toString(36).padStart(6, '0')}`;
  }
}
