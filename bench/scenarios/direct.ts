/**
 * `direct`: N users connected, P active pairs; in each pair one user sends direct
 * messages to the other at stepped rates. The sender times the round trip to the
 * server's ack (for the gateway the ack follows the append to the durable inbox); the
 * recipient times the one-way delivery and acknowledges its inbox cumulatively.
 */
import { describeCounts, openRange, withPool, withServer, workersFor, type Outcome, type Scenario } from '../lib/context.js';
import { runSteps, stepNotes } from '../lib/steps.js';

export const direct: Scenario = {
  name: 'direct',
  title: 'Direct messages between active pairs, with acks',
  figures: [
    { key: 'connections', label: 'connections', unit: '', better: 'none' },
    { key: 'pairs', label: 'active pairs', unit: '', better: 'none' },
    { key: 'light_rate', label: 'light load', unit: 'msg/s', better: 'none' },
    { key: 'rtt_p50_ms', label: 'round trip (send → ack) p50, light load', unit: 'ms', better: 'lower' },
    { key: 'rtt_p99_ms', label: 'round trip (send → ack) p99, light load', unit: 'ms', better: 'lower' },
    { key: 'delivery_p50_ms', label: 'delivery latency p50, light load', unit: 'ms', better: 'lower' },
    { key: 'delivery_p99_ms', label: 'delivery latency p99, light load', unit: 'ms', better: 'lower' },
    { key: 'sustained_max', label: 'sustained maximum', unit: 'msg/s', better: 'higher' },
    { key: 'rtt_p99_at_max_ms', label: 'round trip p99 at that rate', unit: 'ms', better: 'lower' },
    { key: 'server_cpu_us_per_msg', label: 'server CPU per message (light load)', unit: 'µs', better: 'lower' },
    { key: 'loss', label: 'messages lost (all steps)', unit: '', better: 'lower' },
    { key: 'durable', label: 'durable inbox', unit: '', better: 'none' },
  ],
  targets: (all) => all,
  async run(ctx, target): Promise<Outcome> {
    const n = ctx.opts.connections;
    const pairs: Array<[number, number]> = [];
    // Pair k: user u(2k) sends to u(2k+1). All other users are connected and idle.
    for (let k = 0; k < ctx.opts.pairs; k++) pairs.push([2 * k, 2 * k + 1]);
    const label = `${target.name} direct`;
    return withServer(ctx, target, (srv) =>
      withPool(
        ctx,
        target,
        [srv.port],
        workersFor(ctx, n),
        async (pool): Promise<Outcome> => {
          const opened = await openRange(ctx, pool, 0, n, label);
          if (opened.failed > 0) throw new Error(`${opened.failed} of ${n} connections failed to open: ${describeCounts(opened.reasons)}`);
          ctx.progress.line(`  ${label}: ${n} connections open in ${Math.round(opened.ms)} ms`);
          const sum = await runSteps(
            ctx,
            pool,
            {
              send: (rate) => pool.direct(pairs, rate, ctx.opts.stepMs, ctx.opts.size),
              expected: (sent) => sent.sent.reduce((a, b) => a + b, 0),
              serverCpu: () => srv.server.cpuMicros(),
              p99LimitMs: 100,
            },
            ctx.opts.directRates.slice(0, Math.max(1, ctx.opts.steps)),
            label,
          );
          const gone = srv.server.exitReason();
          if (gone) return { status: 'failed' as const, reason: `server died: ${gone}\n${srv.server.output()}`, figures: {}, notes: [] };
          const light = sum.steps[0]!;
          const max = sum.sustainedMax;
          const notes = stepNotes(sum, 'msg/s per pair');
          return {
            status: 'ok' as const,
            figures: {
              connections: n,
              pairs: pairs.length,
              light_rate: light.offeredPerSec,
              rtt_p50_ms: light.ackP50,
              rtt_p99_ms: light.ackP99,
              delivery_p50_ms: light.p50,
              delivery_p99_ms: light.p99,
              sustained_max: max?.deliveredPerSec ?? null,
              rtt_p99_at_max_ms: max?.ackP99 ?? null,
              server_cpu_us_per_msg: light.serverCpuUsPerMsg,
              loss: sum.totalLoss,
              durable: target.name === 'gateway',
            },
            details: { rates: ctx.opts.directRates, steps: sum.steps },
            notes,
          };
        },
        true,
      ),
    );
  },
};
