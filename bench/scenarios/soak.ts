/**
 * `soak`: N connections open (default 10,000), P active pairs sending direct messages at
 * a steady aggregate rate (default 2,000 msg/s) for a long time (default 10 minutes),
 * the gateway's RSS sampled every 10 s. Figures: RSS growth after the first minute (the
 * heap settles during it), RSS growth over the second half (flat once bounded windows
 * such as the resend records' are full) and messages lost — sends the server acknowledged that never
 * reached their recipient (must be 0). Gateway only; runs against --url too (RSS n/a
 * there without --pid).
 */
import { describeCounts, openRange, round, withPool, withServer, workersFor, type Outcome, type Scenario } from '../lib/context.js';
import { runStep } from '../lib/steps.js';

export const RSS_SAMPLE_MS = 10_000;
const WARMUP_MS = 60_000;

export interface RssSample {
  /** Since the start of sending (ms). */
  atMs: number;
  rssKB: number;
  /** RssAnon: the process-private part (heap, malloc). */
  anonKB?: number;
  /** RssFile: resident pages of mapped files, LMDB's maps among them. */
  fileKB?: number;
}

/**
 * How the RSS growth after the warm-up splits: process-private memory (%, what a leak
 * grows) and resident pages of mapped files (MB; LMDB's maps: the resend records of the
 * de-duplication window live there, and the kernel may reclaim those pages).
 */
export function rssParts(samples: RssSample[], totalMs: number): { anonPct: number | null; fileMB: number | null } {
  const fromMs = Math.min(WARMUP_MS, totalMs / 2);
  const after = samples.filter((s) => s.atMs >= fromMs && s.anonKB !== undefined && s.fileKB !== undefined);
  if (after.length < 2) return { anonPct: null, fileMB: null };
  const base = after[0]!;
  const last = after[after.length - 1]!;
  return {
    anonPct: round(((last.anonKB! - base.anonKB!) / base.anonKB!) * 100, 2),
    fileMB: round((last.fileKB! - base.fileKB!) / 1024, 1),
  };
}

/** Growth (%) from the first sample at or after `fromMs` to the last, or null with fewer than two such samples. */
function growthSince(samples: RssSample[], fromMs: number): { pct: number | null; baseAtMs: number | null } {
  const after = samples.filter((s) => s.atMs >= fromMs);
  if (after.length < 2) return { pct: null, baseAtMs: null };
  const base = after[0]!;
  const last = after[after.length - 1]!;
  return { pct: round(((last.rssKB - base.rssKB) / base.rssKB) * 100, 2), baseAtMs: base.atMs };
}

/**
 * Growth (%) from the first sample at or after the warm-up to the last sample, or null
 * with fewer than two such samples. A run shorter than two warm-ups uses half its length
 * as the warm-up, so a short proving run still yields a figure (the report says which).
 */
export function rssGrowth(samples: RssSample[], totalMs: number): { pct: number | null; baseAtMs: number | null } {
  return growthSince(samples, Math.min(WARMUP_MS, totalMs / 2));
}

/**
 * Growth (%) over the second half of the run: from the first sample at or after half
 * the length to the last, or null with fewer than two such samples. State that fills
 * over a bounded window (resend records live for Limits.DedupWindow, two minutes by
 * default) raises RSS after the first minute; this figure shows whether RSS is flat
 * once such windows are full, which a leak would not be.
 */
export function rssGrowthSecondHalf(samples: RssSample[], totalMs: number): number | null {
  return growthSince(samples, totalMs / 2).pct;
}

export const soak: Scenario = {
  name: 'soak',
  title: 'Soak: steady direct messages with every connection open; gateway RSS over time',
  figures: [
    { key: 'connections', label: 'connections open', unit: '', better: 'none' },
    { key: 'rate', label: 'direct messages offered', unit: 'msg/s', better: 'none' },
    { key: 'duration_s', label: 'sending time', unit: 's', better: 'none' },
    { key: 'sent', label: 'messages sent', unit: '', better: 'none' },
    { key: 'acked', label: 'sends acknowledged by the server', unit: '', better: 'none' },
    { key: 'received', label: 'messages received', unit: '', better: 'none' },
    { key: 'delivered_per_s', label: 'delivered (received ÷ time to the last arrival)', unit: 'msg/s', better: 'higher' },
    { key: 'lost', label: 'messages lost (acknowledged, never received)', unit: '', better: 'lower' },
    { key: 'rss_base_mb', label: 'gateway RSS after the warm-up', unit: 'MB', better: 'none' },
    { key: 'rss_last_mb', label: 'gateway RSS at the end', unit: 'MB', better: 'none' },
    { key: 'rss_growth_pct', label: 'RSS growth after the warm-up', unit: '%', better: 'lower' },
    { key: 'rss_growth_second_half_pct', label: 'RSS growth over the second half', unit: '%', better: 'lower' },
    { key: 'anon_growth_pct', label: 'of which: process-private memory (RssAnon) growth after the warm-up', unit: '%', better: 'lower' },
    { key: 'file_growth_mb', label: 'of which: resident pages of mapped files (LMDB, RssFile) after the warm-up', unit: 'MB', better: 'none' },
    { key: 'delivery_p99_ms', label: 'delivery latency p99', unit: 'ms', better: 'lower' },
    { key: 'rtt_p99_ms', label: 'round trip (send → ack) p99', unit: 'ms', better: 'lower' },
    { key: 'server_cpu_us_per_msg', label: 'server CPU per message', unit: 'µs', better: 'lower' },
    { key: 'gen_cores', label: 'busiest generator process', unit: 'cores', better: 'none' },
  ],
  targets: (all) => all.filter((t) => t === 'gateway'),
  async run(ctx, target): Promise<Outcome> {
    const n = ctx.opts.connections;
    const pairs: Array<[number, number]> = [];
    for (let k = 0; k < ctx.opts.pairs; k++) pairs.push([2 * k, 2 * k + 1]);
    const { soakMs, soakRate } = ctx.opts;
    const label = `${target.name} soak`;
    return withServer(ctx, target, (srv) =>
      withPool(ctx, target, [srv.port], workersFor(ctx, n), async (pool): Promise<Outcome> => {
        const opened = await openRange(ctx, pool, 0, n, label);
        if (opened.failed > 0) throw new Error(`${opened.failed} of ${n} connections failed to open: ${describeCounts(opened.reasons)}`);
        const samples: RssSample[] = [];
        let t0 = 0;
        const sample = () => {
          const mem = srv.server.memoryKB();
          if (mem === null) return;
          const kb = mem.rss;
          const atMs = Date.now() - t0;
          samples.push({ atMs, rssKB: kb, anonKB: mem.anon, fileKB: mem.file });
          ctx.progress.line(`  ${label}: ${Math.round(atMs / 1000)} s, gateway RSS ${round(kb / 1024, 1)} MB`);
        };
        const step = await runStep(
          ctx,
          pool,
          {
            async send(rate) {
              t0 = Date.now();
              sample();
              const timer = setInterval(sample, RSS_SAMPLE_MS);
              try {
                return await pool.direct(pairs, rate / pairs.length, soakMs, ctx.opts.size);
              } finally {
                clearInterval(timer);
                sample();
              }
            },
            expected: (sent) => sent.sent.reduce((a, b) => a + b, 0),
            serverCpu: () => srv.server.cpuMicros(),
            p99LimitMs: 100,
          },
          soakRate,
          `${label} (${soakRate} msg/s for ${round(soakMs / 1000, 0)} s)`,
        );
        const gone = srv.server.exitReason();
        if (gone) return { status: 'failed' as const, reason: `server died: ${gone}\n${srv.server.output()}`, figures: {}, notes: [] };
        const growth = rssGrowth(samples, soakMs);
        const parts = rssParts(samples, soakMs);
        const base = samples.find((s) => s.atMs === growth.baseAtMs);
        const last = samples[samples.length - 1];
        const notes: string[] = [];
        if (samples.length === 0) notes.push('gateway RSS not sampled: its process is not readable here (give --pid with --url)');
        else if (growth.baseAtMs !== null && growth.baseAtMs < WARMUP_MS) notes.push(`short run: warm-up taken as ${round(growth.baseAtMs / 1000, 0)} s instead of 60 s`);
        if (step.errors) notes.push(step.errors);
        if (step.genSaturated) notes.push(`generator saturated (busiest process at ${step.genMaxProcCores} of a core): latencies are the generator's`);
        if (step.backlog) notes.push(`${step.backlog} messages still arriving ${step.drainMs} ms after sending stopped`);
        return {
          status: 'ok' as const,
          figures: {
            connections: n,
            rate: soakRate,
            duration_s: round(soakMs / 1000, 0),
            sent: step.sent,
            acked: step.acks,
            received: step.delivered,
            delivered_per_s: step.deliveredPerSec,
            lost: Math.max(0, step.acks - step.delivered),
            rss_base_mb: base ? round(base.rssKB / 1024, 1) : null,
            rss_last_mb: last ? round(last.rssKB / 1024, 1) : null,
            rss_growth_pct: growth.pct,
            rss_growth_second_half_pct: rssGrowthSecondHalf(samples, soakMs),
            anon_growth_pct: parts.anonPct,
            file_growth_mb: parts.fileMB,
            delivery_p99_ms: step.genSaturated ? null : step.p99,
            rtt_p99_ms: step.genSaturated ? null : step.ackP99,
            server_cpu_us_per_msg: step.serverCpuUsPerMsg,
            gen_cores: step.genMaxProcCores,
          },
          details: { step, rssSamples: samples, warmupBaseAtMs: growth.baseAtMs },
          notes,
        };
      }, true),
    );
  },
};
