import t from 'tap';
import { CommitPacer } from '../../src/engine/commit-window.js';

t.test('a quiet engine writes a lone urgent record on the next turn; a busy one waits the window', async (t) => {
  let now = 1000;
  const pacer = new CommitPacer(3, () => now);
  t.equal(pacer.urgentDelay(), 0, 'never wrote: quiet');
  pacer.started();
  t.equal(pacer.urgentDelay(), 3, 'a write in flight: the next batch waits the window');
  now += 1;
  pacer.settled();
  t.equal(pacer.urgentDelay(), 3, 'written 0 ms ago');
  now += 2.9;
  t.equal(pacer.urgentDelay(), 3, 'written 2.9 ms ago: still inside the window');
  now += 0.1;
  t.equal(pacer.urgentDelay(), 0, 'a whole window without a write: quiet again');
});

t.test('quiet only once every write in flight has settled', async (t) => {
  let now = 0;
  const pacer = new CommitPacer(5, () => now);
  pacer.started();
  pacer.started();
  pacer.settled();
  now += 100;
  t.equal(pacer.urgentDelay(), 5, 'one write still in flight');
  pacer.settled();
  t.equal(pacer.urgentDelay(), 5, 'the last one has just settled');
  now += 5;
  t.equal(pacer.urgentDelay(), 0);
});

t.test('a window of 0 is always the next turn', async (t) => {
  const pacer = new CommitPacer(0, () => 0);
  pacer.started();
  t.equal(pacer.urgentDelay(), 0);
});
