import { once } from 'node:events';
import t from 'tap';
import { redisSuite, startRedisCluster } from '../helpers/redis.js';
import { spawnTs } from '../helpers/ts-child.js';

/**
 * A cluster client closed while a periodic slot refresh is in flight lets the process
 * exit: ioredis's own refresh timer re-armed itself after such a close and kept test
 * processes (and a stopping gateway) alive for ever.
 */
t.test('a cluster client closed during a slot refresh keeps nothing alive', redisSuite(), async (t) => {
  const cluster = await startRedisCluster(t);
  const child = spawnTs('test/fixtures/cluster-close-child.ts', [cluster.address]);
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  // Loading TypeScript in a child is slow on a loaded machine: the clock starts at "closed".
  await waitFor(() => out.includes('closed') || child.exitCode !== null, 90_000, () => `the close (stdout: ${out}, stderr: ${err.slice(-400)})`);
  t.equal(out, 'ready\nclosed\n', 'the client was ready, then closed mid-refresh');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const [code, signal] = await exited;
  clearTimeout(timer);
  t.same([code, signal], [0, null], `the process exited by itself after the close, not killed 10 s later (stderr: ${err.slice(-400)})`);
});

/** Resolves when `check` holds (polled every 50 ms); rejects after `ms` with `what()`. */
async function waitFor(check: () => boolean, ms: number, what: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
