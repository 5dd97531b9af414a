import t from 'tap';
import { ConnectionSet } from '../../src/engine/memory/connection-set.js';

/** Everything the set holds, oldest first, read through its public API only. */
function drain(set: ConnectionSet): [string, string][] {
  const out: [string, string][] = [];
  for (let next = set.oldest(); next !== undefined; next = set.oldest()) {
    out.push(next);
    set.delete(next[0]);
  }
  return out;
}

t.test('one connection: size, has, oldest, delete', async (t) => {
  const set = new ConnectionSet();
  t.equal(set.size, 0);
  t.equal(set.oldest(), undefined);
  t.equal(set.delete('c1'), false, 'nothing to delete');
  set.set('c1', 'n1');
  t.equal(set.size, 1);
  t.ok(set.has('c1'));
  t.notOk(set.has('c2'));
  t.same(set.oldest(), ['c1', 'n1']);
  set.set('c1', 'n2');
  t.equal(set.size, 1, 'setting a known connection again adds nothing');
  t.same(set.oldest(), ['c1', 'n2'], 'and records its new node');
  t.equal(set.delete('c2'), false, 'an unknown id is not deleted');
  t.equal(set.delete('c1'), true);
  t.equal(set.size, 0);
  t.notOk(set.has('c1'));
});

t.test('several connections keep their connect order through growth and shrinking', async (t) => {
  const set = new ConnectionSet();
  set.set('a', 'n1');
  set.set('b', 'n2');
  set.set('c', 'n1');
  t.equal(set.size, 3);
  set.set('a', 'n3');
  t.equal(set.size, 3, 'a known id keeps its place');
  t.ok(set.delete('b'));
  t.ok(set.delete('a'));
  t.equal(set.size, 1);
  t.ok(set.has('c'));
  t.notOk(set.has('a'));
  set.set('d', 'n2');
  set.set('e', 'n2');
  t.same(drain(set), [['c', 'n1'], ['d', 'n2'], ['e', 'n2']], 'oldest first after collapsing to one and growing again');
  t.equal(set.size, 0);
});

t.test('deleting the oldest of two leaves the newer one as the sole connection', async (t) => {
  const set = new ConnectionSet();
  set.set('x', 'n1');
  set.set('y', 'n2');
  t.ok(set.delete('x'));
  t.same(set.oldest(), ['y', 'n2']);
  t.equal(set.delete('x'), false, 'already gone');
  t.equal(set.size, 1);
});
