import parsePrometheusTextFormat, { type PromFamily, type PromSample } from 'parse-prometheus-text-format';

/**
 * A scrape of GET /metrics parsed by a Prometheus text-format parser, with lookups for
 * tests. The parser folds every series of a labeled histogram into one (it only
 * regroups unlabeled ones), so histograms are also parsed a second time declared
 * untyped, which keeps their _bucket, _sum and _count series apart with their labels.
 */
export class Scrape {
  readonly #families = new Map<string, PromFamily>();
  /** Histogram series by sample name (x_bucket, x_sum, x_count). */
  readonly #histogramParts = new Map<string, PromFamily>();

  constructor(readonly text: string) {
    for (const family of parsePrometheusTextFormat(text)) this.#families.set(family.name, family);
    const untyped = text.split('\n').map((line) => {
      const m = /^# TYPE (\S+) histogram$/.exec(line);
      return m === null ? line : `# TYPE ${m[1]} untyped`;
    }).join('\n');
    for (const family of parsePrometheusTextFormat(untyped)) {
      if (!/_(bucket|sum|count)$/.test(family.name)) continue;
      // A histogram's series alternate (buckets, sum, count per label value): each run is a family of its own.
      const seen = this.#histogramParts.get(family.name);
      if (seen === undefined) this.#histogramParts.set(family.name, family);
      else seen.metrics.push(...family.metrics);
    }
  }

  static async of(httpUrl: string): Promise<Scrape> {
    const res = await fetch(`${httpUrl}/metrics`);
    if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`);
    return new Scrape(await res.text());
  }

  family(name: string): PromFamily {
    const family = this.#families.get(name);
    if (family === undefined) throw new Error(`no metric ${name} in the scrape`);
    return family;
  }

  has(name: string): boolean {
    return this.#families.has(name);
  }

  #sample(name: string, labels: Record<string, string>): PromSample | undefined {
    return this.family(name).metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  }

  /** A counter's or gauge's value for the labels given (0 when that series does not exist). */
  value(name: string, labels: Record<string, string> = {}): number {
    const sample = this.#sample(name, labels);
    return sample === undefined ? 0 : Number(sample.value);
  }

  /** A counter's or gauge's values summed over every series. */
  sum(name: string): number {
    return this.family(name).metrics.reduce((total, m) => total + Number(m.value), 0);
  }

  /** A histogram series' count, sum and cumulative buckets (zeros when the series does not exist). */
  histogram(name: string, labels: Record<string, string> = {}): { count: number; sum: number; buckets: Record<string, number> } {
    this.family(name);
    const matches = (m: PromSample) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v);
    const one = (part: string) => Number(this.#histogramParts.get(`${name}_${part}`)?.metrics.find(matches)?.value ?? 0);
    const buckets: Record<string, number> = {};
    for (const m of this.#histogramParts.get(`${name}_bucket`)?.metrics ?? []) {
      if (matches(m) && m.labels?.['le'] !== undefined) buckets[m.labels['le']] = Number(m.value);
    }
    return { count: one('count'), sum: one('sum'), buckets };
  }

  /** A histogram's count summed over every series. */
  histogramCount(name: string): number {
    this.family(name);
    return (this.#histogramParts.get(`${name}_count`)?.metrics ?? []).reduce((total, m) => total + Number(m.value), 0);
  }
}

/** Scrapes until `done` holds for a scrape (or throws after timeoutMs): for counters moved by events the test cannot await. */
export async function scrapeUntil(httpUrl: string, done: (s: Scrape) => boolean, timeoutMs = 5000): Promise<Scrape> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const scrape = await Scrape.of(httpUrl);
    if (done(scrape)) return scrape;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for /metrics to show the expected values`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
