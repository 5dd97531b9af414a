/**
 * The progress line of long phases (connections opened, messages/s, elapsed) on stderr.
 * On a terminal it rewrites one line; otherwise (CI, pipes) it prints at most one line
 * every few seconds so logs stay readable.
 */
export class Progress {
  private last = 0;
  private shown = false;
  private readonly tty = process.stderr.isTTY === true;

  constructor(private readonly quiet = false) {}

  update(text: string): void {
    if (this.quiet) return;
    const now = Date.now();
    if (this.tty) {
      process.stderr.write(`\r\x1b[2K${text}`);
      this.shown = true;
    } else if (now - this.last >= 3000) {
      process.stderr.write(`  … ${text}\n`);
      this.last = now;
    }
  }

  /** Ends the live line and prints a permanent one. */
  line(text: string): void {
    if (this.quiet) return;
    if (this.tty && this.shown) process.stderr.write('\r\x1b[2K');
    this.shown = false;
    this.last = 0;
    process.stderr.write(`${text}\n`);
  }
}

/** Calls `tick` every `ms` while `work` runs; the ticker's own failures end the wait with an error. */
export async function whileRunning<T>(work: Promise<T>, ms: number, tick: () => Promise<void>): Promise<T> {
  let busy = false;
  let tickError: Error | null = null;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    tick().then(
      () => (busy = false),
      (err: Error) => {
        tickError = err;
        busy = false;
      },
    );
  }, ms);
  try {
    const r = await work;
    if (tickError) throw tickError;
    return r;
  } finally {
    clearInterval(timer);
  }
}

export function fmtRate(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(0);
}
