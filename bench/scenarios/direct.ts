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
 */
import { at, quotedRates } from '../lib/args.js';
import { describeCounts, openRange, withPool, withServer, workersFor, type FigureDef, type FigureValue, type Outcome, type Scenario } from '../lib/context.js';
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
  figures: [...head, ...[500, 2000].flatMap(rateFigures), ...tail],
  figuresFor: (opts) => [...head, ...quotedRates(opts).flatMap(rateFigures), ...tail],
  targets: (all) => all,
  async run(ctx, target): Promise<Outcome> {
    const n = ctx.opts.connections;
    const pairs: Array<[number, number]> = [];
    // Pair k: user u(2k) sends to u(2k+1). All other users are connected and idle.
    for (let k = 0; k < ctx.opts.pairs; k++) pairs.push([2 * k, 2 * k + 1]);
    const label = `${target.name} direct`;
    const rates = ctx.opts.directRates.slice(0, Math.max(1, ctx.opts.steps));
    return withServer(ctx, target, (srv) =>
      withPool(
        ctx,
        target,
        [srv.port],
        workersFor(ctx, n),
        async (pool): Promise<Outcome> => {
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
          if (gone) return { status: 'failed' as const, reason: `server died: ${gone}\n${srv.server.output()}`, figures: {}, notes: [] };
          const max = sum.sustainedMax;
          const quoted = quotedFigures(quotedRates(ctx.opts), sum.steps);
          return {
            status: 'ok' as const,
            figures: {
              connections: n,
              pairs: pairs.length,
              ...quoted.figures,
              sustained_max: max?.deliveredPerSec ?? null,
              rtt_p99_at_max_ms: max && !max.genSaturated ? max.ackP99 : null,
              loss: sum.totalLoss,
              durable: target.name === 'gateway',
            },
            details: { rates, steps: sum.steps },
            notes: [...quoted.notes, ...stepNotes(sum, 'msg/s')],
          };
        },
        true,
      ),
    );
  },
};
