/** A minimal typed event emitter: a throwing handler is reported through `onError`, never breaks delivery to the others. */
export class Emitter<Events extends { [K in keyof Events]: unknown }> {
  #handlers = new Map<keyof Events, Set<(data: never) => void>>();

  constructor(private readonly onError: (err: unknown, event: keyof Events) => void) {}

  on<K extends keyof Events>(event: K, handler: (data: Events[K]) => void): void {
    let set = this.#handlers.get(event);
    if (set === undefined) this.#handlers.set(event, (set = new Set()));
    set.add(handler as (data: never) => void);
  }

  off<K extends keyof Events>(event: K, handler: (data: Events[K]) => void): void {
    this.#handlers.get(event)?.delete(handler as (data: never) => void);
  }

  emit<K extends keyof Events>(event: K, data: Events[K]): void {
    const set = this.#handlers.get(event);
    if (set === undefined) return;
    for (const handler of [...set]) {
      try {
        (handler as (data: Events[K]) => void)(data);
      } catch (err) {
        this.onError(err, event);
      }
    }
  }
}
