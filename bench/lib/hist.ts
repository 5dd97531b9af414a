/**
 * A latency histogram in the style of HdrHistogram, small enough to ship over IPC.
 * Values are recorded in whole microseconds: exact below 128 µs, then 64 buckets per
 * power of two (under 1.6 % relative error) up to MAX_US. Percentiles report the
 * middle of the bucket that holds them, in milliseconds. Histograms of different
 * processes merge by adding counts.
 */
const LINEAR = 128;
const SUB = 64;
/** 2^27 µs ≈ 134 s: anything slower is clamped (and counted) here. */
const MAX_US = 2 ** 27 - 1;
const SIZE = LINEAR + SUB * 21;

function indexOf(us: number): number {
  if (us < LINEAR) return us;
  const e = 31 - Math.clz32(us) - 6; // us >> e lies in [64, 128)
  return LINEAR + SUB * (e - 1) + ((us >>> e) - SUB);
}

function lowerBound(index: number): number {
  if (index < LINEAR) return index;
  const e = Math.floor((index - LINEAR) / SUB) + 1;
  return ((index - LINEAR) % SUB + SUB) * 2 ** e;
}

function width(index: number): number {
  return index < LINEAR ? 1 : 2 ** (Math.floor((index - LINEAR) / SUB) + 1);
}

/** Sparse form for IPC and JSON: [bucketIndex, count] pairs, plus the exact extremes. */
export interface HistSnapshot {
  buckets: Array<[number, number]>;
  count: number;
  sumUs: number;
  minUs: number;
  maxUs: number;
}

export class Histogram {
  private counts = new Float64Array(SIZE);
  count = 0;
  sumUs = 0;
  minUs = Infinity;
  maxUs = 0;

  /** Records a latency given in milliseconds; negative values (clock jitter) count as 0. */
  record(ms: number): void {
    let us = Math.round(ms * 1000);
    if (!(us > 0)) us = 0;
    else if (us > MAX_US) us = MAX_US;
    this.counts[indexOf(us)]++;
    this.count++;
    this.sumUs += us;
    if (us < this.minUs) this.minUs = us;
    if (us > this.maxUs) this.maxUs = us;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sumUs = 0;
    this.minUs = Infinity;
    this.maxUs = 0;
  }

  /** The latency (ms) below which a fraction `q` (0..1) of the recorded values lie; null when empty. */
  quantile(q: number): number | null {
    if (this.count === 0) return null;
    if (q >= 1) return this.maxUs / 1000;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < SIZE; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        const mid = lowerBound(i) + (width(i) - 1) / 2;
        return Math.min(Math.max(mid, this.minUs), this.maxUs) / 1000;
      }
    }
    return this.maxUs / 1000;
  }

  meanMs(): number | null {
    return this.count === 0 ? null : this.sumUs / this.count / 1000;
  }

  snapshot(): HistSnapshot {
    const buckets: Array<[number, number]> = [];
    for (let i = 0; i < SIZE; i++) if (this.counts[i]! > 0) buckets.push([i, this.counts[i]!]);
    return { buckets, count: this.count, sumUs: this.sumUs, minUs: this.count ? this.minUs : 0, maxUs: this.maxUs };
  }

  merge(s: HistSnapshot): void {
    for (const [i, c] of s.buckets) {
      if (!Number.isInteger(i) || i < 0 || i >= SIZE) throw new Error(`histogram bucket out of range: ${i}`);
      this.counts[i] += c;
    }
    if (s.count > 0) {
      this.count += s.count;
      this.sumUs += s.sumUs;
      this.minUs = Math.min(this.minUs, s.minUs);
      this.maxUs = Math.max(this.maxUs, s.maxUs);
    }
  }

  static from(snapshots: Iterable<HistSnapshot>): Histogram {
    const h = new Histogram();
    for (const s of snapshots) h.merge(s);
    return h;
  }
}
