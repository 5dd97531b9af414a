import t from 'tap';
import { SharedValues } from '../../src/core/shared-values.js';

t.test('equal keys share one value; the cache is cleared whole at its limit', async (t) => {
  const cache = new SharedValues<{ key: string }>(3);
  let built = 0;
  const make = (key: string) => () => {
    built += 1;
    return { key };
  };
  const a = cache.get('a', make('a'));
  t.equal(cache.get('a', make('a')), a, 'the same object for the same key');
  t.equal(built, 1, 'built once');
  cache.get('b', make('b'));
  cache.get('c', make('c'));
  t.equal(built, 3);
  const d = cache.get('d', make('d'));
  t.same(d, { key: 'd' }, 'a fourth key is still served');
  t.equal(built, 4);
  const again = cache.get('a', make('a'));
  t.not(again, a, 'after the clear, a key gets a new (equal) value');
  t.same(again, a);
  t.equal(cache.get('d', make('d')), d, 'the key that caused the clear stays shared');
});
