/**
 * Values shared by every holder of an equal key instead of one built per holder: a node
 * holds tens of thousands of connections whose tokens and addresses repeat, and each
 * copy would be memory held per connection for nothing. A bounded cache: cleared whole
 * when it holds `limit` keys, so a spread of unusual keys cannot grow it (values built
 * after a clear are equal, just no longer shared with earlier holders). Holders must
 * never change a shared value.
 */
export class SharedValues<V> {
  readonly #byKey = new Map<string, V>();

  constructor(private readonly limit: number) {}

  /** The value shared under `key`, built by `build` when there is none yet. */
  get(key: string, build: () => V): V {
    let value = this.#byKey.get(key);
    if (value === undefined) {
      if (this.#byKey.size >= this.limit) this.#byKey.clear();
      value = build();
      this.#byKey.set(key, value);
    }
    return value;
  }
}
