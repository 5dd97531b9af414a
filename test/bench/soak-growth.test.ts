import t from 'tap';
import { rssGrowth, rssGrowthSecondHalf, rssParts, type RssSample } from '../../bench/scenarios/soak.js';
import { memoryKB } from '../../bench/lib/procstat.js';

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

t.test('the growth splits into private memory (%) and mapped-file pages (MB)', async (t) => {
  // Private memory flat at 80 MB; file pages grow 30 MB over minutes 1 to 2.5, then stay.
  const s = samples(10, (m) => 110_000 + 20_480 * Math.min(Math.max(m - 1, 0), 1.5)).map((x) => ({ ...x, anonKB: 80_000, fileKB: x.rssKB - 80_000 }));
  t.same(rssParts(s, 600_000), { anonPct: 0, fileMB: 30 });
  const leak = s.map((x) => ({ ...x, anonKB: 80_000 + x.atMs / 1000 }));
  t.equal(rssParts(leak, 600_000).anonPct, 0.67, 'a private leak shows in its own figure');
  t.same(rssParts(s.map(({ atMs, rssKB }) => ({ atMs, rssKB })), 600_000), { anonPct: null, fileMB: null }, 'no parts sampled: no figures');
});

t.test('memoryKB reads this process: its parts are within its RSS', async (t) => {
  const m = memoryKB(process.pid);
  t.ok(m.anon > 0 && m.file > 0, 'both parts are there');
  t.ok(m.anon + m.file <= m.rss + 64, 'and sum to no more than the RSS (one sample, read at once)');
});
