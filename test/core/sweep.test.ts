import t from 'tap';
import { Sweep, SWEEP_MIN_SLICE } from '../../src/core/sweep.js';

t.test('visits every item once per cycle, a slice per tick, and ends each cycle', async (t) => {
  const items = new Map<number, number>();
  for (let i = 0; i < 1000; i++) items.set(i, i);
  const visits = new Map<number, number>();
  const cycles: number[] = [];
  const sweep = new Sweep(items, (item) => visits.set(item, (visits.get(item) ?? 0) + 1), { ticksPerCycle: 4, endOfCycle: (now) => cycles.push(now) });
  sweep.tick(1);
  t.equal(visits.size, 250, 'a quarter per tick');
  for (let tick = 2; tick <= 4; tick++) sweep.tick(tick);
  t.equal(visits.size, 1000, 'everyone in four ticks');
  t.ok([...visits.values()].every((n) => n === 1), 'once each');
  sweep.tick(5);
  t.same(cycles, [5], 'the cycle ends on the tick that finds the end');
  sweep.tick(6);
  t.equal(visits.get(0), 2, 'the next cycle starts over');
});

t.test('small collections are covered in one tick; removed items are not visited', async (t) => {
  const items = new Map<number, number>();
  for (let i = 0; i < SWEEP_MIN_SLICE + 10; i++) items.set(i, i);
  const seen: number[] = [];
  const sweep = new Sweep(items, (item) => {
    seen.push(item);
    if (item === 0) items.delete(5);
  }, { ticksPerCycle: 100 });
  sweep.tick(0);
  t.equal(seen.length, SWEEP_MIN_SLICE, 'at least the minimum slice per tick');
  t.notOk(seen.includes(5), 'an item removed during the cycle is skipped');
  sweep.tick(1);
  t.equal(seen.length, SWEEP_MIN_SLICE + 9, 'the rest on the next tick');
});
