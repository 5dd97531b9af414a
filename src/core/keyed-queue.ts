/**
 * Runs async tasks one at a time per key, in submission order, with no ordering
 * between keys. Used so that everything addressed to one user (appends to its
 * inbox, live fan-out, replay on connect) happens in seq order on this node.
 * Idle keys hold no memory.
 */
export class KeyedQueue {
  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    // A failed task must not poison the chain for the next one: chain on settlement.
    const result = previous.then(task, task);
    const tail = result.then(noop, noop);
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }

  /** Keys with work queued or running. */
  get size(): number {
    return this.#tails.size;
  }

  /** Resolves when every task queued so far has settled. */
  async idle(): Promise<void> {
    while (this.#tails.size > 0) await Promise.all(this.#tails.values());
  }
}

function noop(): void {}
