import t from 'tap';
import { IdGenerator } from '../../src/core/ids.js';

t.test('connection ids: 12 characters, unique and ascending within a process', async (t) => {
  const ids = IdGenerator.forConnections();
  const seen: string[] = [];
  for (let i = 0; i < 5000; i++) seen.push(ids.next());
  t.ok(seen.every((id) => id.length === 12 && /^[0-9a-z]+$/.test(id)), 'short enough to be stored flat by V8');
  t.equal(new Set(seen).size, seen.length, 'unique');
  t.ok(seen.every((id, i) => i === 0 || seen[i - 1]! < id), 'ascending');
  const other = new Set(Array.from({ length: 20 }, () => IdGenerator.forConnections().next().slice(0, 6)));
  t.ok(other.size >= 19, 'each process draws its own random prefix');
});

t.test('message ids keep the 64-bit prefix', async (t) => {
  const id = new IdGenerator().next();
  t.equal(id.length, 22);
  t.match(id, /^[0-9a-f]{16}[0-9a-z]{6}$/);
});
