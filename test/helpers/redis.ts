import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Real redis-server processes for tests, each on a free loopback port with nothing
 * persisted, killed at teardown. A machine without redis-server skips the Redis
 * suites with a clear message, except under CI=true, where that is a failure.
 */

export function hasRedis(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Options for `t.test(name, redisSuite(), fn)`: skips with a message when Redis is missing (never under CI). */
export function redisSuite(): { skip: string | false } {
  if (hasRedis()) return { skip: false };
  if (process.env['CI'] === 'true') throw new Error('redis-server is not installed, and CI=true requires the Redis suites to run');
  return { skip: 'redis-server not installed: Redis suites skipped (install redis-server to run them)' };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface RedisServer {
  readonly port: number;
  readonly host: string;
  /** `host:port`, as the Redis.Host config key takes it. */
  readonly address: string;
  /** SIGKILLs the server (a crash); resolves when it is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port (after kill). */
  restart(): Promise<void>;
  /** Runs redis-cli against it and returns stdout. */
  cli(...args: string[]): string;
}

async function waitReady(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      // stderr ignored: "connection refused" is the expected answer until the server is up.
      if (execFileSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() === 'PONG') return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`redis-server on ${port} not ready: ${String(err)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

function launch(port: number, dir: string, extra: string[]): ChildProcess {
  return spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extra], {
    stdio: 'ignore',
  });
}

/** Starts a redis-server (on `port`, or a free one) with `extra` arguments. */
export async function startRedis(t: { teardown(fn: () => unknown): void }, extra: string[] = [], port?: number): Promise<RedisServer> {
  port ??= await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sb-redis-'));
  const fixedPort = port;
  let child = launch(fixedPort, dir, extra);
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGKILL');
    await gone;
  };
  t.teardown(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await waitReady(fixedPort);
  return {
    port: fixedPort,
    host: '127.0.0.1',
    address: `127.0.0.1:${fixedPort}`,
    kill: stop,
    restart: async () => {
      await stop();
      child = launch(fixedPort, dir, extra);
      await waitReady(fixedPort);
    },
    cli: (...args) => execFileSync('redis-cli', ['-p', String(fixedPort), ...args], { encoding: 'utf8' }),
  };
}

export interface RedisClusterHandle {
  readonly nodes: RedisServer[];
  /** Comma-separated seeds, as Redis.Host takes them for Type: cluster. */
  readonly address: string;
}

/** A Redis Cluster of `masters` masters (no replicas), created with redis-cli --cluster create. */
export async function startRedisCluster(t: { teardown(fn: () => unknown): void }, masters = 3): Promise<RedisClusterHandle> {
  const nodes: RedisServer[] = [];
  for (let i = 0; i < masters; i++) {
    nodes.push(await startRedis(t, ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${i}.conf`, '--cluster-node-timeout', '2000']));
  }
  execFileSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => n.address), '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'ignore' });
  // Wait until every node agrees the cluster is up.
  const deadline = Date.now() + 15_000;
  for (const node of nodes) {
    while (!/cluster_state:ok/.test(node.cli('cluster', 'info'))) {
      if (Date.now() > deadline) throw new Error('redis cluster did not reach state ok');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { nodes, address: nodes.map((n) => n.address).join(',') };
}
