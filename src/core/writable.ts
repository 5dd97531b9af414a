import type { Connection } from './connection.js';

interface Waiter {
  highWater: number;
  resolve: (open: boolean) => void;
}

/**
 * Senders waiting for room in a connection's send buffer. A waiter is woken with true
 * by the first `drained` that finds the buffer at or under its high-water mark, or
 * with false when the connection closes. Connections nobody waits on hold nothing.
 */
export class WritableWaiters {
  readonly #waiting = new Map<Connection, Waiter[]>();

  /** Resolves true once the buffer holds at most `highWater` bytes (at once if it does), false if the connection closes first. */
  when(conn: Connection, highWater: number): Promise<boolean> {
    const socket = conn.socket;
    if (socket === undefined) return Promise.resolve(false);
    if (socket.bufferedAmount() <= highWater) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiters = this.#waiting.get(conn) ?? [];
      waiters.push({ highWater, resolve });
      this.#waiting.set(conn, waiters);
    });
  }

  /** The connection's buffer drained somewhat: wakes the waiters it now has room for. */
  drained(conn: Connection): void {
    const waiters = this.#waiting.get(conn);
    const socket = conn.socket;
    if (waiters === undefined || socket === undefined) return;
    const buffered = socket.bufferedAmount();
    const still = waiters.filter((w) => {
      if (buffered > w.highWater) return true;
      w.resolve(true);
      return false;
    });
    if (still.length === 0) this.#waiting.delete(conn);
    else this.#waiting.set(conn, still);
  }

  /** The connection closed: every waiter hears false. */
  closed(conn: Connection): void {
    const waiters = this.#waiting.get(conn);
    if (waiters === undefined) return;
    this.#waiting.delete(conn);
    for (const w of waiters) w.resolve(false);
  }
}
