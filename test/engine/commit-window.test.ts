import t from 'tap';
import { CommitPacer } from '../../src/engine/commit-window.js';

/** Feeds `pacer` one urgent record every `gapMs` for `forMs`; returns the delays it answered. */
function stream(pacer: CommitPacer, clock: { now: number }, gapMs: number, forMs: number): number[] {
  const delays: number[] = [];
  for (let at = 0; at < forMs; at += gapMs) {
    clock.now += gapMs;
    delays.push(pacer.urgent());
  }
  return delays;
}

t.test('a first record, and records at a light rate, are written on the next turn', async (t) => {
  const clock = { now: 1000 };
  const pacer = new CommitPacer(3, () => clock.now);
  t.equal(pacer.urgent(), 0, 'nothing came before it');
  // 50 a second: 0.15 companions expected in a 3 ms window.
  t.same(new Set(stream(pacer, clock, 20, 2000)), new Set([0]));
  // 250 a second: 0.75 expected, still not worth the wait.
  t.same(new Set(stream(pacer, clock, 4, 2000)), new Set([0]));
});

t.test('a steady rate of one record per window or more waits the window; a quiet spell ends that', async (t) => {
  const clock = { now: 0 };
  const pacer = new CommitPacer(3, () => clock.now);
  const delays = stream(pacer, clock, 2, 1000); // 500 a second: 1.5 per window
  t.equal(delays[0], 0, 'the rate is learned, not assumed');
  t.same(new Set(delays.slice(-300)), new Set([3]), 'once learned, every batch waits the window');
  clock.now += 1000;
  t.equal(pacer.urgent(), 0, 'after a second of silence the next record goes at once');
});

t.test('a window of 0 is always the next turn', async (t) => {
  const clock = { now: 0 };
  const pacer = new CommitPacer(0, () => clock.now);
  t.same(new Set(stream(pacer, clock, 0.01, 10)), new Set([0]));
});
