/**
 * `fanout` (N connections in G groups, one publisher per group) and `room` (one group of
 * N, one publisher: a live-stream room). Every connection joins its group; publishers
 * send ~size-byte messages at stepped rates; every member, publisher included, must
 * receive every message.
 */
import { describeCounts, openRange, withPool, withServer, workersFor, type Ctx, type FigureDef, type Outcome, type Scenario } from '../lib/context.js';
import { runSteps, stepNotes, type SteppedSummary } from '../lib/steps.js';
import { stepRates } from '../lib/args.js';
import type { Pool } from '../lib/pool.js';
import type { Running, Target } from '../lib/targets.js';

export const GROUP_PREFIX = 'bench:g';

/** Figures of a stepped group scenario; also used by `cluster`. */
export const groupFigures: FigureDef[] = [
  { key: 'connections', label: 'connections', unit: '', better: 'none' },
  { key: 'delivered_at_p99', label: 'delivered at p99 < 100 ms', unit: 'msg/s', better: 'higher' },
  { key: 'sustained_max', label: 'sustained maximum', unit: 'msg/s', better: 'higher' },
  { key: 'saturated', label: 'maximum reached (else: lower bound)', unit: '', better: 'none' },
  { key: 'p50_ms', label: 'delivery latency p50', unit: 'ms', better: 'lower' },
  { key: 'p99_ms', label: 'delivery latency p99', unit: 'ms', better: 'lower' },
  { key: 'p999_ms', label: 'delivery latency p99.9', unit: 'ms', better: 'lower' },
  { key: 'server_cpu_us_per_msg', label: 'server CPU per delivered message', unit: 'µs', better: 'lower' },
  { key: 'server_cores', label: 'server CPU', unit: 'cores', better: 'none' },
  { key: 'generator_cores', label: 'generator CPU', unit: 'cores', better: 'none' },
  { key: 'loss', label: 'messages lost (all steps)', unit: '', better: 'lower' },
];

/** The figures of a stepped run, read at the best step under the p99 limit (else the sustained maximum). */
export function summaryFigures(connections: number, sum: SteppedSummary): Record<string, number | boolean | null> {
  const at = sum.atP99 ?? sum.sustainedMax;
  return {
    connections,
    delivered_at_p99: sum.atP99?.deliveredPerSec ?? null,
    sustained_max: sum.sustainedMax?.deliveredPerSec ?? null,
    saturated: sum.saturated,
    p50_ms: at?.p50 ?? null,
    p99_ms: at?.p99 ?? null,
    p999_ms: at?.p999 ?? null,
    server_cpu_us_per_msg: at?.serverCpuUsPerMsg ?? null,
    server_cores: at?.serverCores ?? null,
    generator_cores: at?.genCores ?? null,
    loss: sum.totalLoss,
  };
}

export interface GroupPlan {
  /** [connection idx, group] for every member. */
  members: Array<[number, string]>;
  /** [publisher idx, group], one per group (a publisher that fails to join is replaced). */
  pubs: Array<[number, string]>;
  size: Map<string, number>;
}

/** Connection idx joins group idx % groups; the first member of each group publishes. */
export function planGroups(connections: number, groups: number): GroupPlan {
  const members: Array<[number, string]> = [];
  const size = new Map<string, number>();
  for (let idx = 0; idx < connections; idx++) {
    const g = `${GROUP_PREFIX}${idx % groups}`;
    members.push([idx, g]);
    size.set(g, (size.get(g) ?? 0) + 1);
  }
  const pubs: Array<[number, string]> = [];
  for (let k = 0; k < groups; k++) pubs.push([k, `${GROUP_PREFIX}${k}`]);
  return { members, pubs, size };
}

/**
 * Opens and joins every connection of the plan. A few failures (at most 1 %) are
 * tolerated: the members that did not join leave the plan, so they are not counted as
 * loss; a publisher that did not join is replaced by another member of its group; the
 * returned notes say what happened (which connections, and why). More fail the scenario.
 */
export async function prepareGroups(ctx: Ctx, pool: Pool, plan: GroupPlan, n: number, label: string): Promise<{ joined: number; notes: string[] }> {
  const opened = await openRange(ctx, pool, 0, n, label);
  const joined = await pool.join(plan.members, 30_000);
  const drops = (await pool.stats()).dropReasons;
  const why = [describeCounts(opened.reasons), describeCounts(joined.reasons), describeCounts(drops)].filter(Boolean).join('; ');
  if (joined.failed > Math.max(1, n / 100) || joined.failed > joined.failedIdx.length) {
    throw new Error(`${joined.failed} of ${n} connections did not open and join: ${why}`);
  }
  const failed = new Set(joined.failedIdx);
  const group = new Map(plan.members);
  for (const idx of failed) {
    const g = group.get(idx)!;
    plan.size.set(g, plan.size.get(g)! - 1);
  }
  const replaced: string[] = [];
  plan.pubs = plan.pubs.map(([idx, g]) => {
    if (!failed.has(idx)) return [idx, g];
    const other = plan.members.find(([m, mg]) => mg === g && !failed.has(m));
    if (!other) throw new Error(`no member of ${g} joined: ${why}`);
    replaced.push(`u${idx} → u${other[0]}`);
    return [other[0], g];
  });
  ctx.progress.line(`  ${label}: ${joined.ok} of ${n} connections open and joined in ${Math.round(opened.ms)} ms`);
  const notes = joined.failed > 0
    ? [`${joined.failed} of ${n} connections did not open and join (left out of the figures; ` +
        `users ${joined.failedIdx.slice(0, 10).map((i) => `u${i}`).join(', ')}${replaced.length ? `; publisher replaced: ${replaced.join(', ')}` : ''}): ${why}`]
    : [];
  return { joined: joined.ok, notes };
}

export async function steppedGroups(
  ctx: Ctx,
  pool: Pool,
  plan: GroupPlan,
  serverCpu: () => number | null,
  rates: number[],
  label: string,
): Promise<SteppedSummary> {
  return runSteps(
    ctx,
    pool,
    {
      send: (rate) => pool.publish(plan.pubs, rate, ctx.opts.stepMs, ctx.opts.size),
      expected: (sent) => sent.sent.reduce((sum, k, i) => sum + k * plan.size.get(plan.pubs[i]![1])!, 0),
      serverCpu,
      p99LimitMs: 100,
    },
    rates,
    label,
  );
}

function groupScenario(name: 'fanout' | 'room', title: string, groupsOf: (ctx: Ctx) => number): Scenario {
  return {
    name,
    title,
    figures: groupFigures,
    targets: (all) => all,
    async run(ctx, target: Target): Promise<Outcome> {
      const n = ctx.opts.connections;
      const groups = groupsOf(ctx);
      const plan = planGroups(n, groups);
      // Base rate: 5 msg/s per publisher reaches every member 5 times a second; it doubles each step.
      const rates = stepRates(ctx.opts, 5);
      return withServer(ctx, target, (srv: Running) =>
        withPool(ctx, target, [srv.port], workersFor(ctx, n), async (pool): Promise<Outcome> => {
          const prep = await prepareGroups(ctx, pool, plan, n, `${target.name} ${name}`);
          const sum = await steppedGroups(ctx, pool, plan, () => srv.server.cpuMicros(), rates, `${target.name} ${name}`);
          const gone = srv.server.exitReason();
          if (gone) return { status: 'failed' as const, reason: `server died: ${gone}\n${srv.server.output()}`, figures: {}, notes: [] };
          const notes = [...prep.notes, ...stepNotes(sum, 'msg/s per publisher')];
          return { status: 'ok' as const, figures: summaryFigures(prep.joined, sum), details: { groups, rates, steps: sum.steps }, notes };
        }),
      );
    },
  };
}

export const fanout = groupScenario('fanout', 'Groups: G groups, one publisher each', (ctx) => ctx.opts.groups);
export const room = groupScenario('room', 'Room: one group of all connections, one publisher', () => 1);
