import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t from 'tap';
import { stringify } from 'yaml';
import { spawnGateway } from '../helpers/process.js';
import { TestClient } from '../helpers/client.js';
import { tempDir } from '../helpers/gateway.js';
import { REPO_ROOT } from '../helpers/ts-child.js';
import { spawnMain } from '../helpers/main-child.js';
import { TEST_SECRET, token } from '../helpers/tokens.js';

/** Runs the gateway's entry point with `args` to its end; resolves with its exit code and output. */
function runMain(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnMain(args);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

/** True when nothing listens on 127.0.0.1:port any more (a connection attempt is refused). */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

/** SIGKILLs a process this test started (by its pid) unless it already ended. */
function killIfAlive(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - started;
}

t.test('a second gateway on a port in use exits non-zero with one clear line', async (t) => {
  const first = await spawnGateway(t, { Offline: { Engine: 'memory' } });
  const second = spawnGateway(t, { Offline: { Engine: 'memory' }, Port: first.port });
  await t.rejects(second, /exited \(1\) before listening: switchboard: cannot listen on 127\.0\.0\.1:\d+: address in use by another process/);
  // The first one still owns every connection.
  const c = await TestClient.connect(first.url, { token: await token({ sub: 'only' }) });
  t.equal((await c.request({ type: 'ping' })).type, 'pong', 'the first gateway still serves');
  await c.close();
});

t.test('--help and --version print and exit 0', async (t) => {
  const help = await runMain(['--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /^usage: switchboard \[--config FILE\]/);
  t.match(help.stdout, /--version/);
  const version = await runMain(['--version']);
  t.equal(version.code, 0);
  t.match(version.stdout, /^switchboard \d+\.\d+\.\d+\n$/);
  const bad = await runMain(['--bogus']);
  t.equal(bad.code, 2, 'an unknown option is still a usage error');
  t.match(bad.stderr, /unknown option "--bogus"/);
});

t.test('SIGTERM to `npm start` stops the gateway: clients get 1012 and the port is free within 6 s', async (t) => {
  const dir = tempDir(t, 'switchboard-npm-');
  const file = join(dir, 'config.yaml');
  // A free port chosen here: the npm process is what the test holds, not the gateway.
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen({ host: '127.0.0.1', port: 0 }, () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  writeFileSync(file, stringify({ Host: '127.0.0.1', Port: port, Auth: { Secret: TEST_SECRET }, Offline: { Engine: 'memory' }, Log: { Level: 'info' }, Monitor: { Enable: false } }));
  // The real command an operator types (prestart builds dist/ first).
  const npm = spawn('npm', ['start', '--silent', '--', '--config', file], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });
  const npmExited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
  const stdoutClosed = new Promise((resolve) => npm.stdout!.once('close', resolve));
  let output = '';
  npm.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const listening = new Promise<void>((resolve, reject) => {
    createInterface({ input: npm.stdout! }).on('line', (line) => {
      output += line + '\n';
      if (line.includes('"msg":"listening"')) {
        gatewayPid = (JSON.parse(line) as { pid: number }).pid;
        resolve();
      }
    });
    void npmExited.then((code) => reject(new Error(`npm start exited (${code}) before listening: ${output}`)));
  });
  let gatewayPid: number | undefined;
  t.teardown(() => {
    if (npm.exitCode === null) npm.kill('SIGKILL');
    // Should the gateway have outlived npm (the bug this test guards), do not leave it running.
    if (gatewayPid !== undefined) killIfAlive(gatewayPid);
  });
  await Promise.race([listening, new Promise((_, reject) => setTimeout(() => reject(new Error(`npm start did not listen within 120 s: ${output}`)), 120_000).unref())]);

  const clients = await Promise.all(['n1', 'n2', 'n3'].map(async (sub) => TestClient.connect(`ws://127.0.0.1:${port}/ws`, { token: await token({ sub }) })));
  npm.kill('SIGTERM');
  const closes = await Promise.all(clients.map((c) => c.closed));
  t.same(closes.map((c) => c.code), [1012, 1012, 1012], 'every client got 1012 (server restart)');
  const took = await waitUntil('port freed', () => portFree(port), 6000);
  t.ok(took < 6000, `port free ${took} ms after SIGTERM`);
  // The gateway writes to the pipe npm handed it: the pipe closes when the gateway has exited.
  await stdoutClosed;
  t.match(output, /"msg":"stopped"/, 'the gateway logged its graceful stop');
});

t.test('SIGINT to `npm start` (Ctrl-C) also stops the gateway gracefully', async (t) => {
  const dir = tempDir(t, 'switchboard-npm-');
  const file = join(dir, 'config.yaml');
  writeFileSync(file, stringify({ Host: '127.0.0.1', Port: 0, Auth: { Secret: TEST_SECRET }, Offline: { Engine: 'memory' }, Log: { Level: 'info' }, Monitor: { Enable: false } }));
  // dist/ was built by the test above; --ignore-scripts skips prestart's second build.
  const npm = spawn('npm', ['start', '--silent', '--ignore-scripts', '--', '--config', file], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const npmExited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
  let gatewayPid: number | undefined;
  t.teardown(() => {
    if (npm.exitCode === null) npm.kill('SIGKILL');
    if (gatewayPid !== undefined) killIfAlive(gatewayPid);
  });
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: npm.stdout! }).on('line', (line) => {
      output += line + '\n';
      if (line.includes('"msg":"listening"')) {
        const entry = JSON.parse(line) as { port: number; pid: number };
        gatewayPid = entry.pid;
        resolve(entry.port);
      }
    });
    void npmExited.then((code) => reject(new Error(`npm start exited (${code}) before listening: ${output}`)));
  });
  const c = await TestClient.connect(`ws://127.0.0.1:${port}/ws`, { token: await token({ sub: 'ctrl-c' }) });
  npm.kill('SIGINT');
  t.equal((await c.closed).code, 1012, 'the client got 1012');
  const took = await waitUntil('port freed', () => portFree(port), 6000).catch((err: Error) => {
    throw new Error(`${err.message}\n${output}\n${execFileSync('ss', ['-tanp']).toString().split('\n').filter((l) => l.includes(`:${port}`)).join('\n')}`);
  });
  t.ok(took < 6000, `port free ${took} ms after SIGINT`);
});

t.test('at info, connections are not logged one by one; refusals come as one line per interval with counts per code', async (t) => {
  const proc = await spawnGateway(t, { Offline: { Engine: 'memory' }, Log: { Level: 'info' }, Monitor: { Enable: true, Interval: '300ms' } });
  const good = await TestClient.connect(proc.url, { token: await token({ sub: 'quiet' }) });
  const refused: Promise<unknown>[] = [];
  for (let i = 0; i < 3; i++) refused.push(TestClient.connect(proc.url, { token: 'bad' }).catch((err: { status?: number }) => err.status));
  // An unsupported subprotocol: BAD_REQUEST.
  refused.push(TestClient.connect(proc.url, { token: await token({ sub: 'fmt' }), format: 'xml' as 'json' }).catch((err: { status?: number }) => err.status));
  t.same(await Promise.all(refused), [401, 401, 401, 400]);
  await good.close();
  const started = Date.now();
  let summary: Record<string, unknown> | undefined;
  while ((summary = proc.logs.find((l) => l['msg'] === 'upgrades refused')) === undefined) {
    if (Date.now() - started > 5000) throw new Error('no "upgrades refused" line within 5 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  t.match(summary, { level: 30, refused: { UNAUTHORIZED: 3, BAD_REQUEST: 1 }, total: 4 });
  t.ok(proc.logs.some((l) => l['msg'] === 'stats'), 'the stats line is still there');
  t.notOk(proc.logs.some((l) => l['msg'] === 'open' || l['msg'] === 'close'), 'no per-connection lines at info');
});
