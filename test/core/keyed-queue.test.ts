import t from 'tap';
import { KeyedQueue } from '../../src/core/keyed-queue.js';
import { deferred } from '../helpers/fake-socket.js';

t.test('one task at a time per key, in submission order; keys independent', async (t) => {
  const q = new KeyedQueue();
  const order: string[] = [];
  const gate = deferred<void>();
  const a1 = q.run('a', async () => {
    await gate.promise;
    order.push('a1');
  });
  const a2 = q.run('a', async () => {
    order.push('a2');
  });
  const b1 = q.run('b', async () => {
    order.push('b1');
  });
  await b1;
  t.same(order, ['b1'], 'b does not wait for a');
  gate.resolve();
  await Promise.all([a1, a2]);
  t.same(order, ['b1', 'a1', 'a2'], 'a2 ran after a1');
});

t.test('a failed task rejects its own promise only; idle keys hold nothing', async (t) => {
  const q = new KeyedQueue();
  const failing = q.run('k', async () => {
    throw new Error('boom');
  });
  const next = q.run('k', async () => 'after');
  await t.rejects(failing, /boom/);
  t.equal(await next, 'after', 'the chain continues');
  await q.idle();
  t.equal(q.size, 0);
});

t.test('idle() waits for work queued while it waits', async (t) => {
  const q = new KeyedQueue();
  const done: number[] = [];
  const gate = deferred<void>();
  void q.run('k', async () => {
    await gate.promise;
    done.push(1);
    void q.run('other', async () => {
      done.push(2);
    });
  });
  const idle = q.idle();
  gate.resolve();
  await idle;
  t.same(done, [1, 2]);
});
