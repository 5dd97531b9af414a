/**
 * `direct`: N users connected, P active pairs; in each pair one user sends direct
 * messages to the other. Steps are aggregate rates over all pairs (default 500, 2,000,
 * 10,000 and 50,000 msg/s; each pair sends rate ÷ P), while the other N − 2P connections
 * stay open and idle. The sender times the round trip to the server's ack (for the
 * gateway the ack follows the append to the durable inbox); the recipient times the
 * one-way delivery and acknowledges its inbox cumulatively.
 *
 * The first two rates get their own figures (the 500 and 2,000 msg/s). A step
 * whose busiest generator process was saturated measured the generator: its figures are
 * left empty and a note says so.
 *
 * The gateway then runs those rates once more with the memory inbox engine (the
 * `memory_` figures), so the report tells the gateway's own cost from the durable
 * inbox's (one synchronous write per batch of appends before the sender's ack: the
 * journal's since 1 Dec 2026 06:30 UTC, an LMDB commit and fsync before). Not
 * with --quick (the smoke check stays short) nor against --url (the bench cannot
 * restart that gateway with another engine).
 */
import { at, quotedRates } from '../lib/args.js';
import { describeCounts, openRange, withPool, withServer, workersFor, type Ctx, type FigureDef, type FigureValue, type Outcome, type Scenario } from '../lib/context.js';
import type { Target } from '../lib/targets.js';
import { runSteps, stepNotes, type StepResult } from '../lib/steps.js';


function rateFigures(rate: number): FigureDef[] {
  const r = rate.toLocaleString('en-US');
  return [
    { key: at('delivery_p50_ms', rate), label: `delivery latency (one way) p50 at ${r} msg/s`, unit: 'ms', better: 'lower' },
    { key: at('delivery_p99_ms', rate), label: `delivery latency (one way) p99 at ${r} msg/s`, unit: 'ms', better: 'lower' },
    { key: at('rtt_p50_ms', rate), label: `round trip (send → ack) p50 at ${r} msg/s`, unit: 'ms', better: 'lower' },
    { key: at('rtt_p99_ms', rate), label: `round trip (send → ack) p99 at ${r} msg/s`, unit: 'ms', better: 'lower' },
    { key: at('server_cpu_us_per_msg', rate), label: `server CPU per message at ${r} msg/s`, unit: 'µs', better: 'lower' },
    { key: at('gen_cores', rate), label: `busiest generator process at ${r} msg/s`, unit: 'cores', better: 'none' },
  ];
}

/** What the memory-inbox run reports per quoted rate (see the file comment). */
function memoryFigures(rate: number): FigureDef[] {
  const r = rate.toLocaleString('en-US');
  return [
    { key: at('memory_rtt_p50_ms', rate), label: `memory inbox: round trip p50 at ${r} msg/s`, unit: 'ms', better: 'lower' },
    { key: at('memory_rtt_p99_ms', rate), label: `memory inbox: round trip p99 at ${r} msg/s`, unit: 'ms', better: 'lower' },
    { key: at('memory_server_cpu_us_per_msg', rate), label: `memory inbox: server CPU per message at ${r} msg/s`, unit: 'µs', better: 'lower' },
  ];
}

/** Whether the gateway's memory-inbox run belongs to this run (see the file comment). */
export function runsMemoryInbox(opts: { quick: boolean; url: string | null }): boolean {
  return !opts.quick && opts.url === null;
}

const head: FigureDef[] = [
  { key: 'connections', label: 'connections open', unit: '', better: 'none' },
  { key: 'pairs', label: 'active pairs (the rest idle)', unit: '', better: 'none' },
];
const tail: FigureDef[] = [
  { key: 'sustained_max', label: 'sustained maximum', unit: 'msg/s', better: 'higher' },
  { key: 'rtt_p99_at_max_ms', label: 'round trip p99 at that rate', unit: 'ms', better: 'lower' },
  { key: 'loss', label: 'messages lost (all steps)', unit: '', better: 'lower' },
  { key: 'durable', label: 'durable inbox', unit: '', better: 'none' },
];

/** The figures of the quoted rates from the steps; empty for a step not run or whose generator was saturated. */
function quotedFigures(rates: number[], steps: StepResult[]): { figures: Record<string, FigureValue>; notes: string[] } {
  const figures: Record<string, FigureValue> = {};
  const notes: string[] = [];
  rates.forEach((rate, i) => {
    const s = steps[i];
    const ok = s !== undefined && !s.genSaturated;
    figures[at('delivery_p50_ms', rate)] = ok ? s.p50 : null;
    figures[at('delivery_p99_ms', rate)] = ok ? s.p99 : null;
    figures[at('rtt_p50_ms', rate)] = ok ? s.ackP50 : null;
    figures[at('rtt_p99_ms', rate)] = ok ? s.ackP99 : null;
    figures[at('server_cpu_us_per_msg', rate)] = ok ? s.serverCpuUsPerMsg : null;
    figures[at('gen_cores', rate)] = s ? s.genMaxProcCores : null;
    if (!s) notes.push(`no step ran at ${rate} msg/s (an earlier step was not sustained)`);
    else if (s.genSaturated) notes.push(`figures at ${rate} msg/s left out: the generator was saturated`);
  });
  return { figures, notes };
}

export const direct: Scenario = {
  name: 'direct',
  title: 'Direct messages between active pairs, with acks, beside idle connections',
  figures: [...head, ...[500, 2000].flatMap(rateFigures), ...tail, ...[500, 2000].flatMap(memoryFigures)],
  figuresFor: (opts) => [
    ...head,
    ...quotedRates(opts).flatMap(rateFigures),
    ...tail,
    ...(runsMemoryInbox(opts) ? quotedRates(opts).flatMap(memoryFigures) : []),
  ],
  targets: (all) => all,
  async run(ctx, target): Promise<Outcome> {
    const rates = ctx.opts.directRates.slice(0, Math.max(1, ctx.opts.steps));
    const run = await stepsAgainst(ctx, target, rates, `${target.name} direct`);
    if (run.status === 'failed') return run;
    const { sum } = run;
    const max = sum.sustainedMax;
    const quoted = quotedFigures(quotedRates(ctx.opts), sum.steps);
    const outcome: Outcome = {
      status: 'ok' as const,
      figures: {
        connections: ctx.opts.connections,
        pairs: ctx.opts.pairs,
        ...quoted.figures,
        sustained_max: max?.deliveredPerSec ?? null,
        rtt_p99_at_max_ms: max && !max.genSaturated ? max.ackP99 : null,
        loss: sum.totalLoss,
        durable: target.name === 'gateway',
      },
      details: { rates, steps: sum.steps },
      notes: [...quoted.notes, ...stepNotes(sum, 'msg/s')],
    };
    if (target.name !== 'gateway' || !runsMemoryInbox(ctx.opts)) return outcome;
    // The same gateway with the memory inbox: what the durable inbox costs (see the file comment).
    const memoryRates = quotedRates(ctx.opts);
    // Its failure leaves the durable inbox's figures standing, with a note saying why these are missing.
    const memory = await stepsAgainst(ctx, target, memoryRates, 'gateway direct (memory inbox)', { SWITCHBOARD_OFFLINE__ENGINE: 'memory' }).catch(
      (err: unknown): StepsRun => ({ status: 'failed', reason: err instanceof Error ? err.message : String(err), figures: {}, notes: [] }),
    );
    if (memory.status === 'failed') return { ...outcome, notes: [...outcome.notes, `memory inbox run failed: ${memory.reason}`] };
    const figures: Record<string, FigureValue> = {};
    const notes: string[] = [];
    memoryRates.forEach((rate, i) => {
      const s = memory.sum.steps[i];
      const ok = s !== undefined && !s.genSaturated;
      figures[at('memory_rtt_p50_ms', rate)] = ok ? s.ackP50 : null;
      figures[at('memory_rtt_p99_ms', rate)] = ok ? s.ackP99 : null;
      figures[at('memory_server_cpu_us_per_msg', rate)] = ok ? s.serverCpuUsPerMsg : null;
      if (s !== undefined && s.genSaturated) notes.push(`memory inbox figures at ${rate} msg/s left out: the generator was saturated`);
      if (s !== undefined && s.loss > 0) notes.push(`memory inbox run at ${rate} msg/s: ${s.loss} messages lost`);
    });
    return {
      ...outcome,
      figures: { ...outcome.figures, ...figures, loss: (outcome.figures['loss'] as number) + memory.sum.totalLoss },
      details: { ...(outcome.details as object), memory: { rates: memoryRates, steps: memory.sum.steps } },
      notes: [...outcome.notes, ...notes],
    };
  },
};

type StepsRun = { status: 'ok'; sum: Awaited<ReturnType<typeof runSteps>> } | { status: 'failed'; reason: string; figures: Record<string, FigureValue>; notes: string[] };

/**
 * One server start (with `env` added to the target's environment), N connections
 * opened, the pairs stepped through `rates`. Pair k: user u(2k) sends to u(2k+1); every
 * other user is connected and idle.
 */
async function stepsAgainst(ctx: Ctx, target: Target, rates: number[], label: string, env?: Record<string, string>): Promise<StepsRun> {
  const n = ctx.opts.connections;
  const pairs: Array<[number, number]> = [];
  for (let k = 0; k < ctx.opts.pairs; k++) pairs.push([2 * k, 2 * k + 1]);
  return withServer(
    ctx,
    target,
    (srv) =>
      withPool(
        ctx,
        target,
        [srv.port],
        workersFor(ctx, n),
        async (pool): Promise<StepsRun> => {
          const opened = await openRange(ctx, pool, 0, n, label);
          if (opened.failed > 0) throw new Error(`${opened.failed} of ${n} connections failed to open: ${describeCounts(opened.reasons)}`);
          ctx.progress.line(`  ${label}: ${n} connections open in ${Math.round(opened.ms)} ms over ${pool.size} generator processes`);
          const sum = await runSteps(
            ctx,
            pool,
            {
              send: (rate) => pool.direct(pairs, rate / pairs.length, ctx.opts.stepMs, ctx.opts.size),
              expected: (sent) => sent.sent.reduce((a, b) => a + b, 0),
              serverCpu: () => srv.server.cpuMicros(),
              p99LimitMs: 100,
            },
            rates,
            label,
          );
          const gone = srv.server.exitReason();
          if (gone) return { status: 'failed', reason: `server died: ${gone}\n${srv.server.output()}`, figures: {}, notes: [] };
          return { status: 'ok', sum };
        },
        true,
      ),
    env,
  );
}
