import t from 'tap';
import { GroupCommit, type TransactionRunner } from '../../src/engine/lmdb/group-commit.js';

/**
 * A stand-in for lmdb's root: a transaction runs its callback on a later turn and
 * commits the writes of the child transactions that did not throw; `failNext` makes
 * the next commit fail after its callbacks ran.
 */
class FakeRunner implements TransactionRunner {
  readonly committed: string[] = [];
  readonly batches: number[] = [];
  failNext: Error | undefined;
  #pending: string[] | undefined;
  #child: string[] | undefined;

  write(value: string): void {
    if (this.#child === undefined) throw new Error('write outside a child transaction');
    this.#child.push(value);
  }

  async transaction<T>(fn: () => T): Promise<T> {
    await new Promise((resolve) => setImmediate(resolve));
    this.#pending = [];
    const result = fn();
    const writes = this.#pending;
    this.#pending = undefined;
    const failure = this.failNext;
    this.failNext = undefined;
    if (failure) throw failure;
    this.committed.push(...writes);
    this.batches.push(writes.length);
    return result;
  }

  childTransaction<T>(fn: () => T): T {
    this.#child = [];
    try {
      const result = fn();
      this.#pending!.push(...this.#child);
      return result;
    } finally {
      this.#child = undefined;
    }
  }
}

t.test('operations issued in one turn share one commit and run in call order', async (t) => {
  const runner = new FakeRunner();
  const commits = new GroupCommit(runner, 50);
  const results = await Promise.all(['a', 'b', 'c'].map((v) => commits.run(() => (runner.write(v), v.toUpperCase()), true)));
  t.same(results, ['A', 'B', 'C']);
  t.same(runner.committed, ['a', 'b', 'c']);
  t.same(runner.batches, [3], 'one transaction');
});

t.test('an operation that throws rejects alone and keeps none of its writes', async (t) => {
  const runner = new FakeRunner();
  const commits = new GroupCommit(runner, 50);
  const ok1 = commits.run(() => runner.write('a'), true);
  const bad = commits.run(() => {
    runner.write('half');
    throw new Error('boom');
  }, true);
  const ok2 = commits.run(() => runner.write('c'), true);
  await t.rejects(bad, /boom/);
  await ok1;
  await ok2;
  t.same(runner.committed, ['a', 'c']);
});

t.test('a failed commit rejects every operation of its batch, and the next batch is unaffected', async (t) => {
  const runner = new FakeRunner();
  const commits = new GroupCommit(runner, 50);
  runner.failNext = new Error('MDB_MAP_FULL');
  const batch = [commits.run(() => runner.write('a'), true), commits.run(() => runner.write('b'), false)];
  for (const p of batch) await t.rejects(p, /MDB_MAP_FULL/);
  t.same(runner.committed, [], 'nothing of the failed batch was written');
  await commits.run(() => runner.write('c'), true);
  t.same(runner.committed, ['c']);
});

t.test('a lazy operation waits for an urgent one to share its commit, or for the delay', async (t) => {
  const runner = new FakeRunner();
  const commits = new GroupCommit(runner, 40);
  const lazy = commits.run(() => runner.write('ack'), false);
  await new Promise((resolve) => setTimeout(resolve, 5));
  t.same(runner.batches, [], 'not written at once');
  await Promise.all([lazy, commits.run(() => runner.write('append'), true)]);
  t.same(runner.batches, [2], 'written with the urgent one, in call order');
  t.same(runner.committed, ['ack', 'append']);
  const started = Date.now();
  await commits.run(() => runner.write('alone'), false);
  t.ok(Date.now() - started >= 30, 'alone, it is written after the delay');
  t.same(runner.batches, [2, 1]);
});

t.test('drain writes lazy operations at once and waits for every batch', async (t) => {
  const runner = new FakeRunner();
  const commits = new GroupCommit(runner, 60_000);
  const lazy = commits.run(() => runner.write('x'), false);
  await commits.drain();
  t.same(runner.committed, ['x']);
  await lazy;
  t.equal(commits.queued, 0);
});

t.test('with a commit window, an urgent operation waits that long and carries what arrives meanwhile', async (t) => {
  const runner = new FakeRunner();
  const commits = new GroupCommit(runner, 5, 40);
  // A steady stream first (the window applies only when company is expected: CommitPacer).
  for (let i = 0; i < 15; i++) await commits.run(() => runner.write('warm'), true);
  runner.batches.length = 0;
  runner.committed.length = 0;
  const started = Date.now();
  const first = commits.run(() => runner.write('a'), true);
  // A later turn, well inside the window: it joins the first one's commit.
  await new Promise((resolve) => setTimeout(resolve, 5));
  t.same(runner.batches, [], 'nothing handed over before the window ends');
  const second = commits.run(() => runner.write('b'), true);
  const lazy = commits.run(() => runner.write('ack'), false);
  await Promise.all([first, second, lazy]);
  t.ok(Date.now() - started >= 39, 'the first operation waited for the window');
  t.same(runner.batches, [3], 'one commit for the three, in call order');
  t.same(runner.committed, ['a', 'b', 'ack']);
});

t.test('at a light load an urgent operation is committed on the next turn, not after the window', async (t) => {
  const runner = new FakeRunner();
  const commits = new GroupCommit(runner, 5, 200);
  const raceWindow = (p: Promise<unknown>, ms: number): Promise<string> =>
    Promise.race([p.then(() => 'committed'), new Promise<string>((resolve) => setTimeout(() => resolve('still waiting'), ms).unref())]);
  t.equal(await raceWindow(commits.run(() => runner.write('a'), true), 100), 'committed', 'a lone operation: at once');
  // Operations one after another: once they come at one per window or more, the window applies.
  for (let i = 0; i < 15; i++) await commits.run(() => runner.write('b'), true);
  const late = commits.run(() => runner.write('c'), true);
  t.equal(await raceWindow(late, 100), 'still waiting', 'a steady stream: it waits the window for company');
  await late;
  t.equal(runner.committed.at(-1), 'c');
});

t.test('a window of 0 commits on the next turn, and a window out of range is refused', async (t) => {
  const runner = new FakeRunner();
  const commits = new GroupCommit(runner, 5, 0);
  await Promise.all([commits.run(() => runner.write('a'), true), commits.run(() => runner.write('b'), true)]);
  t.same(runner.batches, [2]);
  for (const bad of [-1, 1001, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.throws(() => new GroupCommit(runner, 5, bad), RangeError, `window ${bad}`);
  }
});
