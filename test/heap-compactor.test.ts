import t from 'tap';
import { Writable } from 'node:stream';
import { getHeapStatistics } from 'node:v8';
import { pino } from 'pino';
import { HeapCompactor, processHeap, type HeapProbe } from '../src/heap-compactor.js';
import { Metrics } from '../src/metrics/registry.js';
import { startGateway, testConfig } from './helpers/gateway.js';
import { scrapeUntil } from './helpers/prometheus.js';

const MiB = 1024 * 1024;

/** Resolves once `done()` holds, checking every 100 ms; rejects after `timeoutMs`. */
async function until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A heap and loop the test sets by hand; `collect` shrinks the heap to `collectsTo`. */
class HandProbe implements HeapProbe {
  heap = 40 * MiB;
  load = 0;
  collectsTo = 30 * MiB;
  collections = 0;
  fail: Error | undefined;

  heapBytes(): number {
    return this.heap;
  }

  busy(): number {
    return this.load;
  }

  collect(): Promise<void> {
    this.collections += 1;
    if (this.fail !== undefined) return Promise.reject(this.fail);
    this.heap = this.collectsTo;
    return Promise.resolve();
  }
}

function logLines(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'info' }, sink), lines };
}

function compactor(probe: HandProbe, growth = 8 * MiB, enabled = true) {
  const metrics = new Metrics();
  const { log, lines } = logLines();
  const heap = new HeapCompactor({ compactWhenIdle: enabled, compactAfterGrowth: growth }, { metrics, log, probe });
  return { heap, metrics, lines };
}

t.test('compacts once the heap has grown and the loop has been quiet for two checks', async (t) => {
  const probe = new HandProbe();
  const { heap, metrics, lines } = compactor(probe);
  probe.heap = 50 * MiB; // 10 MiB above the smallest heap seen
  probe.load = 0.6;
  t.equal(heap.check(), undefined, 'busy: no compaction');
  probe.load = 0.01;
  t.equal(heap.check(), undefined, 'one quiet check is not enough: the burst may only have paused');
  const run = heap.check();
  t.ok(run, 'second quiet check in a row compacts');
  await run;
  t.equal(probe.collections, 1);
  t.equal(metrics.get('heap_compactions_total'), 1);
  t.equal(metrics.histogramTotal('heap_compaction_seconds').counts.reduce((a, b) => a + b, 0), 1, 'its duration is observed');
  const line = lines.find((l) => l['msg'] === 'heap compacted after a burst');
  t.match(line, { heapBeforeMb: 50, heapAfterMb: 30 });

  for (let i = 0; i < 5; i++) t.equal(heap.check(), undefined, 'steady idle after a compaction never compacts again');
  t.equal(probe.collections, 1);
});

t.test('growth is measured from the smallest heap since the last compaction', async (t) => {
  const probe = new HandProbe();
  const { heap } = compactor(probe);
  probe.load = 0;
  probe.heap = 46 * MiB; // +6 MiB over the start: under the 8 MiB threshold
  t.equal(heap.check(), undefined);
  t.equal(heap.check(), undefined);
  probe.heap = 36 * MiB; // V8 shrank it on its own: the new low
  t.equal(heap.check(), undefined);
  probe.heap = 45 * MiB; // +9 MiB over the low (though +5 over the start)
  const run = heap.check();
  t.ok(run, 'compacts: 9 MiB above the smallest heap seen');
  await run;
  t.equal(probe.collections, 1);
});

t.test('a busy check resets the quiet count', async (t) => {
  const probe = new HandProbe();
  const { heap } = compactor(probe);
  probe.heap = 60 * MiB;
  const loads = [0, 0.5, 0, 0.2, 0];
  for (const load of loads) {
    probe.load = load;
    t.equal(heap.check(), undefined, `load ${load}`);
  }
  probe.load = 0;
  t.ok(heap.check(), 'two quiet checks in a row at last');
});

t.test('never two at once: checks while one runs do nothing', async (t) => {
  const probe = new HandProbe();
  let finish!: () => void;
  probe.collect = () => {
    probe.collections += 1;
    return new Promise<void>((resolve) => (finish = resolve));
  };
  const { heap } = compactor(probe);
  probe.heap = 60 * MiB;
  heap.check();
  const run = heap.check();
  t.ok(run);
  t.equal(heap.check(), undefined);
  t.equal(heap.check(), undefined);
  finish();
  await run;
  t.equal(probe.collections, 1);
});

t.test('a failed collection is logged and turns the compactor off', async (t) => {
  const probe = new HandProbe();
  probe.fail = new Error('inspector not available');
  const { heap, metrics, lines } = compactor(probe);
  heap.start();
  probe.heap = 60 * MiB;
  heap.check();
  await heap.check();
  t.equal(metrics.get('heap_compactions_total'), 0);
  t.match(lines.find((l) => l['level'] === 40), { msg: /heap compaction failed/, err: { message: 'inspector not available' } });
  t.equal(heap.active, false, 'turned off');
});

t.test('the process probe collects for real: dead objects leave the heap', async (t) => {
  const probe = processHeap();
  let garbage: { n: number; s: string }[] | undefined = [];
  for (let i = 0; i < 300_000; i++) garbage.push({ n: i, s: `garbage-${i}` });
  const grown = getHeapStatistics().used_heap_size;
  t.ok(garbage.length > 0);
  garbage = undefined;
  await probe.collect();
  const after = getHeapStatistics().used_heap_size;
  t.ok(after < grown - 10 * MiB, `used heap fell from ${Math.round(grown / MiB)} to ${Math.round(after / MiB)} MiB`);
  const busy = probe.busy();
  t.ok(busy >= 0 && busy <= 1, `loop utilization ${busy} is a fraction`);
});

t.test('the gateway compacts after a burst once quiet, and exports the count', async (t) => {
  const gw = await startGateway(t, { Heap: { CompactAfterGrowth: '1MiB' } });
  t.same(gw.config.heap, { compactWhenIdle: true, compactAfterGrowth: MiB }, 'on by default');
  // A burst's worth of objects in this process (the gateway runs in it), kept until the
  // heap has grown by more than the threshold, then dropped: dead, in the old generation.
  const start = getHeapStatistics().total_heap_size;
  let garbage: string[][] | undefined = [];
  for (let i = 0; getHeapStatistics().total_heap_size < start + 4 * MiB; i++) {
    garbage.push([`burst-${i}`, `${i}`]);
    if (i % 10_000 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  t.ok(garbage.length > 0);
  garbage = undefined;
  // Waits on the counter without scraping: /metrics every few ms would keep the loop busy.
  await until(() => gw.gateway.metrics.get('heap_compactions_total') >= 1, 10_000, 'a compaction after the burst');
  const scrape = await scrapeUntil(gw.httpUrl, (s) => s.value('switchboard_heap_compactions_total') >= 1);
  t.ok(scrape.value('switchboard_heap_compactions_total') >= 1, 'a compaction ran and was counted');
  t.ok(scrape.histogramCount('switchboard_heap_compaction_seconds') >= 1, 'and timed');
});

t.test('Heap.CompactWhenIdle: false leaves the heap to V8: no timer, no check', async (t) => {
  t.equal(testConfig({ Heap: { CompactWhenIdle: false } }).heap.compactWhenIdle, false);
  t.throws(() => testConfig({ Heap: { CompactAfterGrowth: '512KiB' } }), /Heap.CompactAfterGrowth/, 'below 1 MiB is refused');
  const probe = new HandProbe();
  const { heap } = compactor(probe, 8 * MiB, false);
  heap.start();
  t.equal(heap.active, false);
  heap.stop();
  const on = compactor(probe).heap;
  on.start();
  t.equal(on.active, true);
  on.stop();
  t.equal(on.active, false);
});
