import t from 'tap';
import { HistogramSeries, LATENCY_BUCKETS, Metrics, quantile } from '../../src/metrics/registry.js';
import { Vitals } from '../../src/metrics/vitals.js';
import { Scrape } from '../helpers/prometheus.js';

t.test('quantile interpolates inside the bucket, as histogram_quantile does', async (t) => {
  const s = new HistogramSeries();
  t.equal(quantile(s.counts, 0.99), 0, 'no observation: 0');
  for (let i = 0; i < 100; i++) s.observe(0.003); // the (2.5 ms, 5 ms] bucket
  t.equal(quantile(s.counts, 0.5), 0.00375, 'halfway through the bucket');
  t.equal(quantile(s.counts, 1), 0.005, 'the top of the bucket');
  s.observe(60);
  t.equal(quantile(s.counts, 1), 10, 'above the last bound reads as the last bound');
  t.equal(s.count, 101);
  t.equal(s.counts[LATENCY_BUCKETS.length], 1, 'the overflow slot');
  s.observe(0.0001);
  t.equal(s.counts[0], 1, 'a bound is inclusive (le)');
});

t.test('series resolved once render through prom-client with their labels', async (t) => {
  const metrics = new Metrics({ omit: ['redis_connected'] });
  const closes = metrics.counter('connections_closed_total', '1006');
  closes.inc();
  closes.inc(2);
  t.equal(metrics.counter('connections_closed_total', '1006'), closes, 'one series per label value');
  metrics.counter('connections_closed_total', '1000').inc();
  metrics.inc('frames_out_total', 7);
  metrics.set('connections_current', 4);
  let users = 3;
  metrics.source('users_online', () => users);
  metrics.histogram('frame_handle_seconds', 'ping').observe(0.0002);
  metrics.histogram('frame_handle_seconds', 'ping').observe(0.02);
  metrics.histogram('frame_handle_seconds', 'join').observe(2);
  metrics.histogram('delivery_ack_seconds').observe(0.5);

  t.equal(metrics.get('connections_closed_total'), 4, 'get sums label values');
  t.same(metrics.labeled('connections_closed_total').sort(), [['1000', 1], ['1006', 3]]);
  t.equal(metrics.snapshot().frames_out_total, 7);
  const s = new Scrape(await metrics.render());
  t.equal(s.value('switchboard_connections_closed_total', { code: '1006' }), 3);
  t.equal(s.value('switchboard_connections_current'), 4);
  t.equal(s.value('switchboard_users_online'), 3);
  users = 5;
  t.equal(new Scrape(await metrics.render()).value('switchboard_users_online'), 5, 'sources are read on every scrape');
  t.notOk(s.has('switchboard_redis_connected'), 'omitted metrics are not exported');
  t.notOk(s.has('process_resident_memory_bytes'), 'default metrics only when asked for');
  const ping = s.histogram('switchboard_frame_handle_seconds', { type: 'ping' });
  t.equal(ping.count, 2);
  t.equal(ping.buckets['0.00025'], 1);
  t.equal(ping.buckets['0.025'], 2);
  t.equal(ping.buckets['+Inf'], 2);
  t.equal(ping.sum, 0.0202);
  t.equal(s.histogram('switchboard_frame_handle_seconds', { type: 'join' }).buckets['1'], 0);
  t.equal(s.histogramCount('switchboard_frame_handle_seconds'), 3);
  t.equal(s.histogram('switchboard_delivery_ack_seconds').count, 1, 'an unlabeled histogram');
  t.equal(metrics.histogramTotal('frame_handle_seconds').count, 3);
  t.match(metrics.contentType, /^text\/plain; version=0\.0\.4/);
});

t.test('vitals over a window: rates, latency quantiles, error rate with abnormal closes only', async (t) => {
  let now = 1_000_000;
  const metrics = new Metrics();
  const vitals = new Vitals(metrics, { connections: () => 12, users: () => 7 }, { sampleMs: 1000, windowMs: 10_000, clock: () => now });
  t.teardown(() => vitals.stop());
  // Before the window: must not count.
  metrics.inc('messages_direct_total', 1000);
  now += 1000;
  vitals.sample();

  now += 2000;
  metrics.inc('messages_direct_total', 20);
  metrics.inc('messages_group_total', 10);
  metrics.inc('frames_out_total', 300);
  metrics.inc('connections_opened_total', 8);
  metrics.counter('upgrades_rejected_total', 'UNAUTHORIZED').inc(2);
  metrics.counter('frames_in_total', 'message').inc(90);
  metrics.counter('frames_rejected_total', 'FORBIDDEN').inc(3);
  metrics.counter('connections_closed_total', '1000').inc(4); // normal
  metrics.counter('connections_closed_total', '1006').inc(5); // abnormal
  for (let i = 0; i < 99; i++) metrics.histogram('frame_handle_seconds', 'message').observe(0.0004);
  metrics.histogram('frame_handle_seconds', 'ping').observe(0.8);

  const v = vitals.read(2000);
  t.equal(v.connections, 12);
  t.equal(v.users, 7);
  t.equal(v.messagesInPerSecond, 15, '30 messages over the 2 s since the window began');
  t.equal(v.messagesOutPerSecond, 150);
  t.equal(v.errorRate, Math.round(((2 + 3 + 5) / (2 + 8 + 90)) * 10_000) / 10_000);
  t.ok(v.latencyP50Ms > 0.25 && v.latencyP50Ms <= 0.5, `p50 in the (0.25, 0.5] ms bucket: ${v.latencyP50Ms}`);
  t.ok(v.latencyP99Ms > 0.25 && v.latencyP99Ms <= 0.5, `p99 is the 99th of 100: ${v.latencyP99Ms}`);
  t.ok(v.memoryRssMb > 0);
  t.equal(vitals.read(60_000).messagesInPerSecond, 343.3, 'a longer window reaches back to the oldest sample kept: 1030 in 3 s');
});

t.test('a publish the broker refuses is counted, and still rejects', async (t) => {
  const { Hub } = await import('../../src/core/hub.js');
  const { ControlledBroker, FakeFanout } = await import('../helpers/fake-socket.js');
  const { pino } = await import('pino');
  class RefusingBroker extends ControlledBroker {
    override async publish(): Promise<number> {
      throw new Error('redis down');
    }
  }
  const metrics = new Metrics();
  const hub = new Hub({ fanout: new FakeFanout(), broker: new RefusingBroker(), nodeId: 'n1', log: pino({ level: 'silent' }), metrics });
  await t.rejects(hub.publish('g:room', { type: 'broadcast', data: { mid: 'm1', from: 'a', content: 'x', timestamp: 1 } }), /redis down/);
  await t.rejects(hub.publishControl({ type: 'control', data: { action: 'disconnect', users: ['a'], code: 4010, reason: '' } }), /redis down/);
  t.equal(metrics.get('broker_publish_failures_total'), 2);
});

t.test('the stats log line carries the interval\'s latency, error rate and event-loop delay', async (t) => {
  const { Monitor } = await import('../../src/metrics/monitor.js');
  const { pino } = await import('pino');
  const metrics = new Metrics();
  metrics.set('connections_current', 3);
  const reading = {
    connections: 3, users: 2, messagesInPerSecond: 0, messagesOutPerSecond: 0, latencyP50Ms: 0.1, latencyP99Ms: 4.2,
    errorRate: 0.01, memoryRssMb: 100, heapUsedMb: 50, eventLoopP50Ms: 0.2, eventLoopP99Ms: 7.5,
  };
  const windows: number[] = [];
  const monitor = new Monitor(metrics, { enable: true, interval: 2000 }, pino({ level: 'silent' }), undefined, { read: (ms) => (windows.push(ms ?? 0), reading) });
  const line = monitor.tick();
  t.match(line, { connections: 3, latency_p99_ms: 4.2, error_rate: 0.01, event_loop_p99_ms: 7.5 });
  t.same(windows, [2000], 'over one interval');
});
