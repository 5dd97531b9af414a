/**
 * `http`: the HTTP push API under autocannon, against the gateway and raw-uws's minimal
 * POST /push (the baseline). One WebSocket client is connected as the recipient (and
 * acknowledges its inbox), so each push is a real delivery. The gateway runs twice: with
 * the memory inbox (the headline figures, compared with raw-uws) and with its default
 * durable inbox, synced to disk before each push is answered (the `durable_` figures:
 * the journal since 1 Dec 2026 06:30 UTC, LMDB before; a `--gateway` build runs its own
 * default). Skipped, with the reason, when a
 * gateway build under test has no push API (`--gateway` can name an older build).
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { describeCounts, openRange, round, withPool, withServer, type Ctx, type Outcome, type Scenario } from '../lib/context.js';
import { httpRequest } from '../lib/net.js';
import { cpuMicros } from '../lib/procstat.js';
import { HOST, type Running, type Target } from '../lib/targets.js';

/**
 * Where each target takes a push, tried in order; the first that does not answer 404
 * is used. The gateway's route is the documented one (docs/api.md); the probe keeps the
 * bench honest (skipped, never guessed figures) against a build without it.
 */
const PUSH_PATHS: Record<string, string[]> = {
  gateway: ['/api/v1/push', '/api/push', '/v1/push'],
  'raw-uws': ['/push'],
};

const API_KEY = `bench-${randomBytes(12).toString('hex')}`;
const AUTOCANNON_CONNECTIONS = 64;

interface Cannon {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodeStats: Record<string, { count: number }>;
}

async function findPushPath(target: string, port: number, body: string): Promise<{ path: string } | { reason: string }> {
  const tried: string[] = [];
  for (const path of PUSH_PATHS[target] ?? []) {
    const r = await httpRequest(`http://${HOST}:${port}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}`, 'x-api-key': API_KEY },
      body,
    });
    if (r.status >= 200 && r.status < 300) return { path };
    tried.push(`POST ${path} → ${r.status}${r.status === 404 ? '' : ` ${r.body.slice(0, 200)}`}`);
    if (r.status !== 404) return { reason: `push API refused the probe: ${tried.join('; ')}` };
  }
  return { reason: `no HTTP push API (${tried.join('; ')})` };
}

function runAutocannon(ctx: Ctx, url: string, body: string): Promise<{ result: Cannon; cpuUs: number }> {
  const require = createRequire(import.meta.url);
  const bin = require.resolve('autocannon/autocannon.js');
  const seconds = Math.max(1, Math.round(ctx.opts.stepMs / 1000));
  const args = [bin, '--json', '-c', String(AUTOCANNON_CONNECTIONS), '-d', String(seconds), '-m', 'POST',
    '-H', 'content-type=application/json', '-H', `authorization=Bearer ${API_KEY}`, '-H', `x-api-key=${API_KEY}`, '-b', body, url];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let cpuUs = 0;
    // Sample the generator's CPU while it runs (after exit /proc no longer has it).
    const sampler = setInterval(() => {
      try {
        cpuUs = cpuMicros(child.pid!);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') reject(e as Error);
      }
    }, 200);
    const killer = setTimeout(() => child.kill('SIGKILL'), seconds * 1000 + 30_000);
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (err = (err + c.toString('utf8')).slice(-2000)));
    child.on('exit', (code) => {
      clearInterval(sampler);
      clearTimeout(killer);
      if (code !== 0) return reject(new Error(`autocannon exited with ${code}: ${err.trim()}`));
      try {
        resolve({ result: JSON.parse(out) as Cannon, cpuUs });
      } catch (e) {
        reject(new Error(`autocannon printed no JSON: ${(e as Error).message}: ${out.slice(0, 200)}`));
      }
    });
  });
}

export const http: Scenario = {
  name: 'http',
  title: 'HTTP push API under autocannon',
  figures: [
    { key: 'requests_per_s', label: 'requests/s', unit: 'req/s', better: 'higher' },
    { key: 'p50_ms', label: 'latency p50', unit: 'ms', better: 'lower' },
    { key: 'p99_ms', label: 'latency p99', unit: 'ms', better: 'lower' },
    { key: 'non2xx', label: 'non-2xx answers and errors', unit: '', better: 'lower' },
    { key: 'delivered', label: 'pushes delivered to the connected recipient', unit: '', better: 'none' },
    { key: 'server_cpu_us_per_req', label: 'server CPU per request', unit: 'µs', better: 'lower' },
    { key: 'generator_cores', label: 'autocannon CPU', unit: 'cores', better: 'none' },
    { key: 'durable_requests_per_s', label: 'default durable inbox (fsync): requests/s', unit: 'req/s', better: 'higher' },
    { key: 'durable_p99_ms', label: 'default durable inbox (fsync): latency p99', unit: 'ms', better: 'lower' },
    { key: 'durable_non2xx', label: 'default durable inbox (fsync): non-2xx answers and errors', unit: '', better: 'lower' },
  ],
  targets: (all) => all.filter((t) => t === 'gateway' || t === 'raw-uws'),
  needsOwnServers: 'it starts the gateway twice, with its own push API key and each inbox engine',
  async run(ctx, target): Promise<Outcome> {
    if (target.name !== 'gateway') return measure(ctx, target, {});
    const memory = await measure(ctx, target, { SWITCHBOARD_OFFLINE__ENGINE: 'memory' }, 'memory inbox');
    if (memory.status !== 'ok') return memory;
    // The build's own default engine (no Engine override), so an older build runs its own.
    const durable = await measure(ctx, target, { SWITCHBOARD_OFFLINE__FSYNC: 'true' }, 'default durable inbox');
    if (durable.status !== 'ok') return { ...memory, notes: [...memory.notes, `durable inbox run: ${durable.status}: ${durable.reason ?? ''}`] };
    return {
      ...memory,
      figures: {
        ...memory.figures,
        durable_requests_per_s: durable.figures['requests_per_s'] ?? null,
        durable_p99_ms: durable.figures['p99_ms'] ?? null,
        durable_non2xx: durable.figures['non2xx'] ?? null,
      },
      details: { memory: memory.details, durable: durable.details },
    };
  },
};

/** One server start, one recipient, one autocannon run. */
function measure(ctx: Ctx, target: Target, extraEnv: Record<string, string>, label = ''): Promise<Outcome> {
  const body = JSON.stringify({ to: 'u0', content: { bt: 0, pad: 'x'.repeat(Math.max(0, ctx.opts.size - 40)) } });
  const env: Record<string, string> = target.name === 'gateway' ? { SWITCHBOARD_HTTP__APIKEYS: API_KEY, ...extraEnv } : extraEnv;
  const name = label === '' ? target.name : `${target.name} (${label})`;
  return withServer(
    ctx,
    target,
    (srv: Running) =>
      withPool(
        ctx,
        target,
        [srv.port],
        1,
        async (pool): Promise<Outcome> => {
          const found = await findPushPath(target.name, srv.port, body);
          if ('reason' in found) return { status: 'skipped' as const, reason: found.reason, figures: {}, notes: [] };
          const opened = await openRange(ctx, pool, 0, 1, `${name} http recipient`);
          if (opened.failed) throw new Error(`recipient did not connect: ${describeCounts(opened.reasons)}`);
          await pool.reset();
          const cpu0 = srv.server.cpuMicros();
          const t0 = Date.now();
          ctx.progress.update(`${name} http: autocannon, ${AUTOCANNON_CONNECTIONS} connections, ${ctx.opts.stepMs / 1000} s`);
          const { result, cpuUs } = await runAutocannon(ctx, `http://${HOST}:${srv.port}${found.path}`, body);
          const wallMs = Date.now() - t0;
          const cpu1 = srv.server.cpuMicros();
          const serverCpu = cpu0 === null || cpu1 === null ? null : cpu1 - cpu0;
          const s = await pool.stats();
          const total = result.requests.total;
          return {
            status: 'ok' as const,
            figures: {
              requests_per_s: Math.round(result.requests.average),
              p50_ms: result.latency.p50,
              p99_ms: result.latency.p99,
              non2xx: result.non2xx + result.errors + result.timeouts,
              delivered: s.stepDelivered,
              server_cpu_us_per_req: total > 0 && serverCpu !== null ? round(serverCpu / total, 1) : null,
              generator_cores: round(cpuUs / 1000 / wallMs, 2),
            },
            details: { path: found.path, statusCodes: result.statusCodeStats, autocannon: { connections: AUTOCANNON_CONNECTIONS } },
            notes: [],
          };
        },
        true,
      ),
    env,
  );
}
