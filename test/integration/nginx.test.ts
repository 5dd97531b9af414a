import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import WebSocket from 'ws';
import { TestClient } from '../helpers/client.js';
import { tempDir } from '../helpers/gateway.js';
import { spawnGateway, type GatewayProcess } from '../helpers/process.js';
import { freePort, redisSuite, startRedis } from '../helpers/redis.js';
import { token } from '../helpers/tokens.js';

/**
 * docs/deploy/nginx.conf in front of two gateway processes sharing a Redis, with
 * Debian's nginx started by the test on a free port. Clients connect from different
 * loopback addresses (127.0.0.2, 127.0.0.3): nginx sees them as different clients and
 * appends each one's address to X-Forwarded-For, as it would for clients on the
 * internet; the nodes trust nginx (127.0.0.1) and must count the clients, not nginx.
 */

const NGINX = '/usr/sbin/nginx';

function nginxInstalled(): boolean {
  try {
    execFileSync(NGINX, ['-v'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

function nginxSuite(): { skip: string | false } {
  const redis = redisSuite();
  if (redis.skip !== false) return redis;
  if (nginxInstalled()) return { skip: false };
  if (process.env['CI'] === 'true') throw new Error('nginx is not installed, and CI=true requires the nginx suite to run (apt-get install nginx-light)');
  return { skip: 'nginx not installed: nginx suite skipped (apt-get install nginx-light to run it)' };
}

/** The shipped config with its upstream servers and listen line pointed at this test's ports. */
function siteConfig(nodePorts: number[], listenPort: number): string {
  const shipped = readFileSync(new URL('../../docs/deploy/nginx.conf', import.meta.url), 'utf8');
  let replacedUpstream = false;
  const site = shipped
    .replace(/^(\s*)server 10\.0\.0\.\d+:8892 ([^;]*);\n/gm, (_line, indent: string, params: string) => {
      if (replacedUpstream) return '';
      replacedUpstream = true;
      return nodePorts.map((p) => `${indent}server 127.0.0.1:${p} ${params};\n`).join('');
    })
    .replace(/^(\s*)listen 80;$/m, `$1listen 127.0.0.1:${listenPort};`)
    .replace(/allow 10\.0\.0\.0\/8;/, 'allow 127.0.0.0/8;');
  if (!replacedUpstream || !site.includes(`listen 127.0.0.1:${listenPort};`)) throw new Error('docs/deploy/nginx.conf changed shape: update this test');
  return site;
}

async function startNginx(t: { teardown(fn: () => unknown): void }, nodePorts: number[]): Promise<number> {
  const prefix = tempDir(t, 'switchboard-nginx-');
  mkdirSync(join(prefix, 'logs'));
  const port = await freePort();
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(conf, [
    process.getuid?.() === 0 ? 'user root;' : '',
    'worker_processes 1;',
    'daemon off;',
    `pid ${join(prefix, 'nginx.pid')};`,
    `error_log ${join(prefix, 'logs', 'error.log')} warn;`,
    'events { worker_connections 256; }',
    'http {',
    '  access_log off;',
    `  client_body_temp_path ${join(prefix, 'body')};`,
    `  proxy_temp_path ${join(prefix, 'proxy')};`,
    `  fastcgi_temp_path ${join(prefix, 'fastcgi')};`,
    `  uwsgi_temp_path ${join(prefix, 'uwsgi')};`,
    `  scgi_temp_path ${join(prefix, 'scgi')};`,
    siteConfig(nodePorts, port),
    '}',
  ].join('\n'));
  const child = spawn(NGINX, ['-p', prefix, '-c', conf, '-e', join(prefix, 'logs', 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGQUIT');
    return exited;
  });
  const deadline = Date.now() + 10_000;
  while (!(await listening(port))) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`);
    if (Date.now() > deadline) throw new Error(`nginx did not listen within 10 s: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return port;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Connects through nginx from `from` (a loopback address); resolves with the client or the HTTP status of a refusal. */
async function via(url: string, from: string, sub: string, headers: Record<string, string> = {}): Promise<TestClient | number> {
  try {
    // wsOptions.headers replaces the helper's headers: the token goes in with them.
    const jwt = await token({ sub });
    return await TestClient.connect(url, { wsOptions: { localAddress: from, headers: { ...headers, authorization: `Bearer ${jwt}` } } });
  } catch (err) {
    const status = (err as { status?: number }).status;
    if (status === undefined) throw err;
    return status;
  }
}

async function current(g: GatewayProcess): Promise<number> {
  const text = await (await fetch(`${g.httpUrl}/metrics`)).text();
  return Number(/^switchboard_connections_current (\d+)$/m.exec(text)![1]);
}

t.test('nginx (docs/deploy/nginx.conf) in front of two nodes', nginxSuite(), async (t) => {
  const redis = await startRedis(t);
  const common = {
    Offline: { Engine: 'memory' },
    Presence: { OfflineGrace: '200ms' },
    Limits: { MaxConnPerIp: 2, RateLimit: { MessagesPerSecond: 1000, Burst: 1000 } },
    Http: { TrustedProxies: ['127.0.0.1'] },
    Redis: { Host: redis.address, KeyPrefix: 'sbnginx:' },
  };
  const nodes = await Promise.all([1, 2].map((i) => spawnGateway(t, { ...common, Cluster: { NodeId: `edge-${i}` } })));
  const port = await startNginx(t, nodes.map((n) => n.port));
  const url = `ws://127.0.0.1:${port}/ws`;

  await t.test('upgrades and a direct message between users on different nodes go through nginx', async (t) => {
    const alice = await via(url, '127.0.0.4', 'alice');
    const bob = await via(url, '127.0.0.5', 'bob');
    if (typeof alice === 'number' || typeof bob === 'number') throw new Error('refused through nginx');
    t.same(await Promise.all(nodes.map(current)), [1, 1], 'one connection on each node');
    const ack = await alice.request({ type: 'message', data: { to: 'bob', content: 'through the proxy' } });
    t.equal(ack.data.status, 'delivered');
    const got = await bob.next((f) => f.type === 'message');
    t.match(got.data, { from: 'alice', content: 'through the proxy' });
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    t.equal(health.status, 200, 'HTTP routes pass through too');
    await Promise.all([alice.close(), bob.close()]);
  });

  await t.test('MaxConnPerIp counts the client address, not nginx', async (t) => {
    // 2 per address per node, 2 nodes: 4 from one address, then 429 on either node.
    const results: (TestClient | number)[] = [];
    for (let i = 0; i < 6; i++) results.push(await via(url, '127.0.0.2', `cap-${i}`));
    const open = results.filter((r): r is TestClient => typeof r !== 'number');
    t.equal(open.length, 4, '4 connections from 127.0.0.2 accepted');
    t.same(results.filter((r) => typeof r === 'number'), [429, 429], 'the rest refused with 429');
    // Another address is not affected (the issue: other clients got 0/4 behind the proxy) ...
    const others: (TestClient | number)[] = [];
    for (let i = 0; i < 4; i++) others.push(await via(url, '127.0.0.3', `other-${i}`));
    t.equal(others.filter((r) => typeof r !== 'number').length, 4, 'all 4 from 127.0.0.3 accepted');
    // ... and cannot be framed: what a client writes into X-Forwarded-For itself is left of
    // nginx's entry and ignored, so 127.0.0.6 claiming to be 127.0.0.2 is counted as itself.
    const spoofer = await via(url, '127.0.0.6', 'spoof', { 'x-forwarded-for': '127.0.0.2' });
    t.not(typeof spoofer, 'number', 'a spoofed X-Forwarded-For neither borrows nor blocks another address');
    for (const c of [...open, ...others, spoofer]) if (typeof c !== 'number') await c.close();
  });

  await t.test('a browser behind nginx still gets its refusal as a close code', async (t) => {
    const ws = new WebSocket(`${url}?token=bad`, { origin: 'https://app.example.com' });
    const closed = await new Promise<{ code: number; reason: string }>((resolve, reject) => {
      ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
      ws.once('unexpected-response', () => reject(new Error('got an HTTP refusal')));
    });
    t.equal(closed.code, 4001);
  });
});
