/**
 * `cluster`: three gateway processes and one Redis on this machine. Clients are spread
 * over the nodes (idx % 3); every group has members on every node and its publisher on
 * node 0, so deliveries on nodes 1 and 2 crossed Redis; direct pairs send from node 0 to
 * node 1. Figures: total connections held (goal: more than one process can hold) and
 * cross-node delivered messages/s. Skipped, with the reason, when redis-server is not
 * installed or the gateway does not start in cluster mode.
 */
import { spawnSync } from 'node:child_process';
import { describeCounts, openRange, round, withPool, workersFor, type Ctx, type Outcome, type Scenario } from '../lib/context.js';
import { freePort } from '../lib/net.js';
import { ServerProcess } from '../lib/server-proc.js';
import { runSteps, stepNotes } from '../lib/steps.js';
import { stepRates } from '../lib/args.js';
import { childEnv, HOST, type Running, type Target } from '../lib/targets.js';
import { GROUP_PREFIX, type GroupPlan } from './fanout.js';

const NODES = 3;

function redisServerPath(): string | null {
  const r = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

async function startRedis(bin: string): Promise<{ proc: ServerProcess; port: number }> {
  const port = await freePort();
  // redis-server has no HTTP health URL; ServerProcess polls one, so ask redis-cli instead.
  const proc = await ServerProcess.startWithProbe(
    {
      name: 'redis',
      command: bin,
      args: ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'],
      env: childEnv({}),
      cwd: process.cwd(),
      healthUrl: '',
    },
    () => spawnSync('redis-cli', ['-h', HOST, '-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG',
  );
  return { proc, port };
}

/**
 * The gateway's own words for a failed start: its `switchboard: …` stderr line, else the
 * message of a JSON log line, else the first line that mentions Redis.
 */
function startError(err: Error): string {
  const lines = err.message.split('\n');
  const plain = lines.find((l) => l.startsWith('switchboard: '));
  if (plain) return plain.slice('switchboard: '.length);
  for (const l of lines) {
    if (!l.startsWith('{')) continue;
    try {
      const rec = JSON.parse(l) as { err?: { message?: unknown }; msg?: unknown };
      if (typeof rec.err?.message === 'string') return rec.err.message;
    } catch (parseErr) {
      // Not a log record after all (a line of a stack trace, say): look further.
      void parseErr;
    }
  }
  return (lines.find((l) => /redis|cluster/i.test(l)) ?? lines[0] ?? '').slice(0, 300);
}

/** Members spread over groups and nodes; each group's publisher is its first member on node 0. */
function clusterPlan(connections: number, groups: number): GroupPlan {
  const members: Array<[number, string]> = [];
  const size = new Map<string, number>();
  const pubs = new Map<string, number>();
  for (let idx = 0; idx < connections; idx++) {
    const g = `${GROUP_PREFIX}${idx % groups}`;
    members.push([idx, g]);
    size.set(g, (size.get(g) ?? 0) + 1);
    if (idx % NODES === 0 && !pubs.has(g)) pubs.set(g, idx);
  }
  return { members, pubs: [...pubs].map(([g, idx]) => [idx, g]), size };
}

/** Publishes per second per room in the A → B phase (the issue's 10 rooms × 1,000 members: 100k deliveries/s). */
const AB_RATE = 10;
const AB_ROOMS = 10;

/**
 * The A → B phase: AB_ROOMS rooms whose members are all on node 1 (up to 1,000 each, fewer
 * when node 1 holds fewer than AB_ROOMS × 1,000) and whose publishers are on node 0, so
 * every delivery but the publisher's own copy crossed Redis. Publishers join their room
 * (publishing needs membership by default), so a room has roomSize + 1 members.
 */
function abPlan(connections: number): GroupPlan & { roomSize: number } {
  const onB: number[] = [];
  const onA: number[] = [];
  for (let idx = 0; idx < connections; idx++) {
    if (idx % NODES === 1) onB.push(idx);
    else if (idx % NODES === 0) onA.push(idx);
  }
  const roomSize = Math.max(1, Math.min(1000, Math.floor(onB.length / AB_ROOMS)));
  const members: Array<[number, string]> = [];
  const size = new Map<string, number>();
  const pubs: Array<[number, string]> = [];
  for (let r = 0; r < AB_ROOMS; r++) {
    const g = `${GROUP_PREFIX}ab-${r}`;
    for (const idx of onB.slice(r * roomSize, (r + 1) * roomSize)) members.push([idx, g]);
    const pub = onA[onA.length - 1 - r]!;
    members.push([pub, g]);
    size.set(g, roomSize + 1);
    pubs.push([pub, g]);
  }
  return { members, pubs, size, roomSize };
}

async function startNodes(ctx: Ctx, target: Target, redisPort: number): Promise<Running[]> {
  const nodes: Running[] = [];
  try {
    for (let k = 0; k < NODES; k++) {
      nodes.push(
        await target.start(
          ctx,
          { SWITCHBOARD_REDIS__HOST: `${HOST}:${redisPort}`, SWITCHBOARD_CLUSTER__NODEID: `bench-${k}` },
        ),
      );
    }
  } catch (err) {
    await stopNodes(nodes);
    throw err;
  }
  return nodes;
}

async function stopNodes(nodes: Running[]): Promise<void> {
  await Promise.all(nodes.map(async (n) => {
    await n.server.stop();
    n.cleanup();
  }));
}

/**
 * Length of the quiet window over which idle CPU is measured, after a settling pause.
 * The pause outlasts each node's one-off heap compaction after the burst (two quiet
 * seconds, then a full collection: Heap.CompactWhenIdle), which would otherwise put a
 * few hundred ms of a single GC into a window meant for the steady cost of holding
 * connections (one run on a slow machine: 6.0 % with a 2 s pause).
 */
const IDLE_SETTLE_MS = 5000;
const IDLE_WINDOW_MS = 5000;

interface IdleFigures {
  /** CPU of the busiest gateway node over the window, % of one core. */
  cpuPct: number;
  /** Each node's figure, in node order. */
  perNode: number[];
  redisCpuPct: number;
  /** RSS growth since before the connections opened, per connection the node holds (mean of nodes). */
  kbPerConn: number;
}

/**
 * With every connection open and nothing sent: each node's CPU over a quiet window
 * (the cost of holding connections, which should be close to nothing) and RSS per
 * connection. Connections are spread idx % NODES, so each node holds about n / NODES.
 */
/** A figure of a server this scenario started itself: always readable (only --url servers lack them). */
function own(value: number | null): number {
  if (value === null) throw new Error('cluster: a node\'s CPU or RSS is unreadable');
  return value;
}

async function idleFigures(ctx: Ctx, nodes: Running[], redis: ServerProcess, rssBefore: number[], n: number): Promise<IdleFigures> {
  ctx.progress.update(`cluster: idle window (${IDLE_WINDOW_MS / 1000}s)`);
  await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS));
  const before = nodes.map((x) => own(x.server.cpuMicros()));
  const redisBefore = redis.cpuMicros();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, IDLE_WINDOW_MS));
  const elapsedUs = (performance.now() - t0) * 1000;
  const perNode = nodes.map((x, k) => round((100 * (own(x.server.cpuMicros()) - before[k]!)) / elapsedUs, 2));
  const kb = nodes.map((x, k) => (own(x.server.rssKB()) - rssBefore[k]!) / Math.max(1, Math.ceil((n - k) / NODES)));
  return {
    cpuPct: Math.max(...perNode),
    perNode,
    redisCpuPct: round((100 * (redis.cpuMicros() - redisBefore)) / elapsedUs, 2),
    kbPerConn: round(kb.reduce((a, b) => a + b, 0) / kb.length, 2),
  };
}

export const cluster: Scenario = {
  name: 'cluster',
  title: `${NODES} gateway nodes and Redis, traffic crossing nodes`,
  figures: [
    { key: 'nodes', label: 'gateway nodes', unit: '', better: 'none' },
    { key: 'held', label: 'connections held (all nodes)', unit: '', better: 'higher' },
    { key: 'failures', label: 'failures', unit: '', better: 'lower' },
    { key: 'upgrade_cpu_us', label: 'server CPU per upgrade (all nodes)', unit: 'µs', better: 'lower' },
    { key: 'idle_cpu_pct', label: 'idle CPU per node (busiest node, % of a core)', unit: '%', better: 'lower' },
    { key: 'redis_idle_cpu_pct', label: 'Redis CPU while the nodes idle (% of a core)', unit: '%', better: 'lower' },
    { key: 'kb_per_conn', label: 'memory per connection (RSS growth, mean of nodes)', unit: 'KB', better: 'lower' },
    { key: 'ab_rooms', label: 'A → B fan-out: rooms × members (members on node 1, publishers on node 0)', unit: '', better: 'none' },
    { key: 'ab_delivered_per_s', label: 'A → B fan-out: delivered at 10 publishes/s per room', unit: 'msg/s', better: 'higher' },
    { key: 'ab_p50_ms', label: 'A → B fan-out latency p50', unit: 'ms', better: 'lower' },
    { key: 'ab_p99_ms', label: 'A → B fan-out latency p99', unit: 'ms', better: 'lower' },
    { key: 'cross_group_per_s', label: 'cross-node group deliveries (sustained max)', unit: 'msg/s', better: 'higher' },
    { key: 'group_p99_ms', label: 'group delivery p99 at that rate', unit: 'ms', better: 'lower' },
    { key: 'cross_direct_per_s', label: 'cross-node direct messages (sustained max)', unit: 'msg/s', better: 'higher' },
    { key: 'direct_rtt_p99_ms', label: 'direct round trip p99, light load', unit: 'ms', better: 'lower' },
    { key: 'loss', label: 'messages lost', unit: '', better: 'lower' },
  ],
  needsOwnServers: 'it starts its own 3 gateway nodes and a Redis',
  targets: (all) => all.filter((t) => t === 'gateway'),
  async run(ctx, target): Promise<Outcome> {
    const bin = redisServerPath();
    if (!bin) return { status: 'skipped', reason: 'redis-server is not installed', figures: {}, notes: [] };
    const redis = await startRedis(bin);
    try {
      let nodes: Running[];
      try {
        nodes = await startNodes(ctx, target, redis.port);
      } catch (err) {
        return { status: 'skipped', reason: `the gateway did not start in cluster mode (Redis.Host set): ${startError(err as Error)}`, figures: {}, notes: [] };
      }
      try {
        const n = ctx.opts.clusterConnections;
        const ports = nodes.map((x) => x.port);
        const cpu = (): number => nodes.reduce((a, x) => a + own(x.server.cpuMicros()), 0);
        const plan = clusterPlan(n, Math.min(ctx.opts.groups, Math.floor(n / NODES)));
        return await withPool(ctx, target, ports, workersFor(ctx, n), async (pool): Promise<Outcome> => {
          const rssBefore = nodes.map((x) => own(x.server.rssKB()));
          const cpuBefore = cpu();
          const opened = await openRange(ctx, pool, 0, n, 'cluster');
          const upgradeCpu = cpu() - cpuBefore;
          const ping = await pool.ping(15_000);
          const idle = await idleFigures(ctx, nodes, redis.proc, rssBefore, n);
          const joined = await pool.join(plan.members, 30_000);
          if (joined.failed) {
            const drops = describeCounts((await pool.stats()).dropReasons);
            throw new Error(`${joined.failed} joins failed: ${describeCounts(joined.reasons)}${drops ? `; dropped: ${drops}` : ''}`);
          }
          const ab = abPlan(n);
          const abJoined = await pool.join(ab.members, 30_000);
          if (abJoined.failed) throw new Error(`${abJoined.failed} A → B joins failed: ${describeCounts(abJoined.reasons)}`);
          const abRun = await runSteps(ctx, pool, {
            send: (rate) => pool.publish(ab.pubs, rate, ctx.opts.stepMs, ctx.opts.size),
            expected: (sent) => sent.sent.reduce((sum, k, i) => sum + k * ab.size.get(ab.pubs[i]![1])!, 0),
            serverCpu: cpu,
            p99LimitMs: 100,
          }, [AB_RATE], 'cluster A → B');
          const abStep = abRun.steps[0];
          const groups = await runSteps(ctx, pool, {
            send: (rate) => pool.publish(plan.pubs, rate, ctx.opts.stepMs, ctx.opts.size),
            expected: (sent) => sent.sent.reduce((sum, k, i) => sum + k * plan.size.get(plan.pubs[i]![1])!, 0),
            serverCpu: cpu,
            p99LimitMs: 100,
          }, stepRates(ctx.opts, 2), 'cluster groups');
          const pairs: Array<[number, number]> = [];
          for (let k = 0; k < Math.min(ctx.opts.pairs, Math.floor(n / NODES)); k++) pairs.push([NODES * k, NODES * k + 1]);
          const directs = await runSteps(ctx, pool, {
            send: (rate) => pool.direct(pairs, rate / pairs.length, ctx.opts.stepMs, ctx.opts.size),
            expected: (sent) => sent.sent.reduce((a, b) => a + b, 0),
            serverCpu: cpu,
            p99LimitMs: 100,
          }, ctx.opts.directRates, 'cluster direct');
          const best = groups.sustainedMax;
          // Deliveries on nodes other than 0 crossed Redis (every publisher is on node 0).
          const crossShare = best ? (best.delivered - (best.deliveredByNode[0] ?? 0)) / Math.max(1, best.delivered) : 0;
          return {
            status: 'ok' as const,
            figures: {
              nodes: NODES,
              held: ping.ok,
              failures: n - ping.ok,
              upgrade_cpu_us: opened.opened > 0 ? round(upgradeCpu / opened.opened, 0) : null,
              idle_cpu_pct: idle.cpuPct,
              redis_idle_cpu_pct: idle.redisCpuPct,
              kb_per_conn: idle.kbPerConn,
              ab_rooms: `${ab.pubs.length} × ${ab.roomSize}`,
              ab_delivered_per_s: abStep ? Math.round(abStep.deliveredPerSec) : null,
              ab_p50_ms: abStep?.p50 ?? null,
              ab_p99_ms: abStep?.p99 ?? null,
              cross_group_per_s: best ? Math.round(best.deliveredPerSec * crossShare) : null,
              group_p99_ms: best?.p99 ?? null,
              cross_direct_per_s: directs.sustainedMax?.deliveredPerSec ?? null,
              direct_rtt_p99_ms: directs.steps[0]?.ackP99 ?? null,
              loss: abRun.totalLoss + groups.totalLoss + directs.totalLoss,
            },
            details: { opened, idle, ab: abRun.steps, groups: groups.steps, direct: directs.steps },
            notes: [
              ...(opened.failed ? [`open failures: ${describeCounts(opened.reasons)}`] : []),
              ...stepNotes(groups, 'msg/s per publisher'),
              ...stepNotes(directs, 'direct msg/s'),
            ],
          };
        }, true);
      } finally {
        await stopNodes(nodes);
      }
    } finally {
      await redis.proc.stop();
    }
  },
};
