import t from 'tap';
import { Metrics } from '../../src/metrics/registry.js';
import { RateWindow } from '../../src/metrics/rates.js';

t.test('rates cover the last window only', async (t) => {
  let now = 1_000_000;
  const metrics = new Metrics();
  const rates = new RateWindow(metrics, ['messages_direct_total', 'frames_out_total'], { windowMs: 3_000, sampleMs: 1_000, clock: () => now });
  t.teardown(() => rates.stop());
  t.equal(rates.perSecond(['messages_direct_total']), 0);
  metrics.inc('messages_direct_total', 5);
  t.equal(rates.perSecond(['messages_direct_total']), 5, 'under a second of history counts as one second');
  for (let i = 0; i < 3; i++) {
    now += 1_000;
    metrics.inc('messages_direct_total', 10);
    rates.sample();
  }
  // Samples at +1 s..+3 s plus the initial one; the window keeps 4, i.e. 3 seconds back.
  t.equal(rates.perSecond(['messages_direct_total']), 11.7, 'everything since the oldest kept sample: 35 in 3 s');
  now += 1_000;
  rates.sample();
  t.equal(rates.perSecond(['messages_direct_total']), 6.7, 'the first second (15) has left the window: 20 in 3 s');
  metrics.inc('frames_out_total', 30);
  t.equal(rates.perSecond(['messages_direct_total', 'frames_out_total']), 16.7, 'names are summed: 50 in 3 s');
  t.throws(() => rates.perSecond(['api_requests_total']), /not sampled/);
});
