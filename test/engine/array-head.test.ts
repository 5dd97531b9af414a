import t from 'tap';
import { removeHead } from '../../src/engine/memory/array-head.js';

t.test('removes the first n elements in place and returns them in order, by shift or by splice', async (t) => {
  for (const n of [0, 1, 5, 64, 65, 300]) {
    const arr = Array.from({ length: 1000 }, (_, i) => i);
    const removed = removeHead(arr, n);
    t.same(removed, Array.from({ length: n }, (_, i) => i), `n = ${n}: the removed elements`);
    t.equal(arr.length, 1000 - n, `n = ${n}: the array shrank in place`);
    t.equal(arr[0], n, `n = ${n}: the rest starts after them`);
  }
});

t.test('asking for more than there is empties the array', async (t) => {
  const small = [1, 2, 3];
  t.same(removeHead(small, 10), [1, 2, 3]);
  t.same(small, []);
  const large = Array.from({ length: 70 }, (_, i) => i);
  t.equal(removeHead(large, 100).length, 70);
  t.same(large, []);
});
