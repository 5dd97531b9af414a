import t from 'tap';
import { rssGrowth, rssGrowthSecondHalf, type RssSample } from '../../bench/scenarios/soak.js';

/** RSS samples every 10 s over `minutes`, from `rssAt(minute)` in KB. */
function samples(minutes: number, rssAt: (minute: number) => number): RssSample[] {
  const out: RssSample[] = [];
  for (let atMs = 0; atMs <= minutes * 60_000; atMs += 10_000) out.push({ atMs, rssKB: rssAt(atMs / 60_000) });
  return out;
}

t.test('a window that fills for two minutes: growth after the warm-up, flat second half', async (t) => {
  const s = samples(10, (m) => 100_000 + 20_000 * Math.min(m, 2.5));
  t.equal(rssGrowth(s, 600_000).pct, 25, 'minute 1 (120 MB) to the end (150 MB)');
  t.equal(rssGrowthSecondHalf(s, 600_000), 0);
});

t.test('a leak grows in both figures', async (t) => {
  const s = samples(10, (m) => 100_000 + 10_000 * m);
  t.equal(rssGrowth(s, 600_000).pct, 81.82);
  t.equal(rssGrowthSecondHalf(s, 600_000), 33.33, 'minute 5 (150 MB) to minute 10 (200 MB)');
});

t.test('too few samples give no figure', async (t) => {
  t.equal(rssGrowthSecondHalf([{ atMs: 0, rssKB: 1 }], 600_000), null);
  t.equal(rssGrowthSecondHalf([], 600_000), null);
});
