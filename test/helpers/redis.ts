import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
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

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Offset of a Redis Cluster node's bus port from its client port (fixed by Redis). */
const CLUSTER_BUS_OFFSET = 10_000;

/** A free port whose cluster bus port (port + 10000) is free too. */
async function freeClusterPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await freePort();
    if (port + CLUSTER_BUS_OFFSET <= 65_535 && (await portIsFree(port + CLUSTER_BUS_OFFSET))) return port;
  }
  throw new Error('no free port with a free cluster bus port found');
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
  /** SIGSTOPs the server: it keeps its connections but answers nothing (a stall). */
  freeze(): void;
  /** SIGCONTs a frozen server. */
  thaw(): void;
}

/**
 * Waits until the server answers PING. Fails at once when the process exits (a port
 * taken since it was chosen, a bad argument), with the server's own log in the message.
 */
async function waitReady(port: number, child: ChildProcess, logFile: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server on ${port} exited (${child.exitCode ?? child.signalCode}): ${logTail(logFile)}`);
    }
    try {
      // stderr ignored: "connection refused" is the expected answer until the server is up.
      // Bounded: something else on the port may accept and never answer.
      if (execFileSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 2_000 }).trim() === 'PONG') return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`redis-server on ${port} not ready after ${timeoutMs} ms (${String(err)}): ${logTail(logFile)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

function logTail(logFile: string): string {
  if (!existsSync(logFile)) return '(no log written)';
  return readFileSync(logFile, 'utf8').trim().split('\n').slice(-8).join(' | ');
}

function launch(port: number, dir: string, extra: string[]): ChildProcess {
  return spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
    '--logfile', join(dir, 'redis.log'), ...extra,
  ], { stdio: 'ignore' });
}

/** Attempts at a free port before giving up: a port chosen free can be taken by another process before the server binds it. */
const START_ATTEMPTS = 5;

/**
 * Starts a redis-server (on `port`, or a free one) with `extra` arguments. Without a
 * fixed port it retries on other ports when the server cannot bind, so a port race
 * never fails a test. `clusterBus`: the chosen port's bus port (+10000) must be free too.
 */
export async function startRedis(t: { teardown(fn: () => unknown): void }, extra: string[] = [], port?: number, opts: { clusterBus?: boolean } = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-redis-'));
  const logFile = join(dir, 'redis.log');
  let child: ChildProcess | undefined;
  const stop = async (): Promise<void> => {
    const current = child;
    if (current === undefined || current.exitCode !== null || current.signalCode !== null) return;
    const gone = new Promise<void>((r) => current.once('exit', () => r()));
    current.kill('SIGKILL');
    await gone;
  };
  t.teardown(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });
  let chosen = port;
  for (let attempt = 1; ; attempt++) {
    const candidate = port ?? (opts.clusterBus === true ? await freeClusterPort() : await freePort());
    rmSync(logFile, { force: true });
    child = launch(candidate, dir, extra);
    try {
      await waitReady(candidate, child, logFile);
      chosen = candidate;
      break;
    } catch (err) {
      await stop();
      if (port !== undefined || attempt >= START_ATTEMPTS) throw err;
    }
  }
  const fixedPort = chosen!;
  return {
    port: fixedPort,
    host: '127.0.0.1',
    address: `127.0.0.1:${fixedPort}`,
    kill: stop,
    restart: async () => {
      await stop();
      child = launch(fixedPort, dir, extra);
      await waitReady(fixedPort, child, logFile);
    },
    cli: (...args) => execFileSync('redis-cli', ['-p', String(fixedPort), ...args], { encoding: 'utf8' }),
    freeze: () => child?.kill('SIGSTOP'),
    thaw: () => child?.kill('SIGCONT'),
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
    nodes.push(await startRedis(t, ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${i}.conf`, '--cluster-node-timeout', '2000'], undefined, { clusterBus: true }));
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
