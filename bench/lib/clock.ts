/**
 * One clock for every bench process. Latency is stamped by the sender and read by a
 * receiver that may live in another generator process, so both must read the same
 * clock: CLOCK_MONOTONIC, which `process.hrtime` and `performance.now` read on Linux,
 * is system-wide. The runner picks a base (`process.hrtime.bigint()` at start) and
 * hands it to every worker; `now()` is milliseconds since that base, as a float with
 * sub-microsecond resolution.
 */
export type Clock = () => number;

export function makeClock(baseNs: bigint): Clock {
  // performance.now() is cheap and reads the same monotonic clock, shifted by the
  // process's own origin: compute that shift once. One read pair is not enough: the
  // first hrtime call of a process is slow (lazy set-up) and a busy machine may preempt
  // between two reads, either of which skews the shift by a millisecond. So bracket each
  // hrtime read with two performance.now() reads and keep the tightest of many tries.
  let best = Infinity;
  let offset = 0;
  for (let i = 0; i < 50; i++) {
    const before = performance.now();
    const h = Number(process.hrtime.bigint() - baseNs) / 1e6;
    const after = performance.now();
    if (after - before < best) {
      best = after - before;
      offset = h - (before + after) / 2;
    }
  }
  return () => performance.now() + offset;
}

/** Parses a base handed over IPC (bigints do not survive JSON). */
export function parseBase(text: string): bigint {
  if (!/^\d+$/.test(text)) throw new Error(`bad clock base: ${JSON.stringify(text)}`);
  return BigInt(text);
}
