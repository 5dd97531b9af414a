/**
 * Stepped load: publish at a rate for one step, wait for the deliveries to drain, take
 * the figures, double the rate, until the server stops keeping up. Shared by `fanout`,
 * `room`, `direct` and `cluster`.
 *
 * Per step: offered/s is what the publishers asked for (sent × members ÷ step length);
 * delivered/s is what arrived, divided by the time from the step's start to the last
 * delivery (so a backlog that drains late lowers it); loss is expected − delivered once
 * nothing more arrives. A step is *sustained* when loss is 0, no connection dropped
 * and delivered/s ≥ 95 % of offered/s.
 */
import { cpus } from 'node:os';
import type { Ctx } from './context.js';
import { ms, round } from './context.js';
import type { Pool } from './pool.js';
import { fmtRate, whileRunning } from './progress.js';
import { sleep } from './net.js';
import type { LoadResult } from '../gen/protocol.js';

export interface StepResult {
  /** Messages/s per publisher (or per pair). */
  rate: number;
  sent: number;
  expected: number;
  delivered: number;
  /** Deliveries by the server node of the receiving connection (one entry per node). */
  deliveredByNode: number[];
  /** Expected − delivered when deliveries stopped arriving (true loss); 0 when all arrived or the backlog was still draining. */
  loss: number;
  /** Expected − delivered when the drain was cut off while messages were still arriving (a backlog, not a loss). */
  backlog: number;
  offeredPerSec: number;
  deliveredPerSec: number;
  p50: number | null;
  p99: number | null;
  p999: number | null;
  max: number | null;
  /** Sender-side round trip (send → server ack). */
  ackP50: number | null;
  ackP99: number | null;
  acks: number;
  serverCpuUsPerMsg: number | null;
  /** Server CPU ÷ wall time; null when the server's CPU cannot be read (--url without --pid). */
  serverCores: number | null;
  /** CPU of all generator processes ÷ wall time. */
  genCores: number;
  /** CPU of the busiest generator process ÷ wall time (each is one event loop: ~1 is its ceiling). */
  genMaxProcCores: number;
  /**
   * The busiest generator process used ≥ GEN_SATURATED of a core: its latencies include
   * its own queueing, so the step's figures describe the generator, not the server.
   */
  genSaturated: boolean;
  drainMs: number;
  dropped: number;
  errors: string;
  sustained: boolean;
}

export interface StepLoad {
  /** Sends for one step (resolves when the last message went out). */
  send(rate: number): Promise<LoadResult>;
  /** Deliveries expected from what was sent. */
  expected(sent: LoadResult): number;
  /** CPU time (µs) of the server processes that count (several in `cluster`); null when unknown. */
  serverCpu(): number | null;
  /** Stop stepping after a step whose p99 (ms) is at or above this. */
  p99LimitMs: number;
}

const DRAIN_IDLE_MS = 2000;
/** Share of one core above which a generator process counts as saturated. */
export const GEN_SATURATED = 0.85;
const DRAIN_MAX_MS = 20_000;

function counts(m: Record<string, number>): string {
  return Object.entries(m).map(([k, v]) => `${v}× ${k}`).join('; ');
}

export async function runStep(ctx: Ctx, pool: Pool, load: StepLoad, rate: number, label: string): Promise<StepResult> {
  await pool.reset();
  const before = await pool.stats();
  const cpuS0 = load.serverCpu();
  const cpuG0 = pool.cpuMicrosEach();
  const t0 = ctx.clock();
  const sent = await whileRunning(load.send(rate), 1000, async () => {
    const s = await pool.stats();
    const el = (ctx.clock() - t0) / 1000;
    ctx.progress.update(`${label}: ${fmtRate(s.stepDelivered / el)} msg/s delivered, ${s.open} open, ${el.toFixed(1)}s`);
  });
  const sendEnd = ctx.clock();
  const expected = load.expected(sent);
  // Drain: wait until everything arrived, or nothing more arrives for DRAIN_IDLE_MS.
  let s = await pool.stats();
  // Every send is acknowledged by the server (ack or error): wait for those too.
  const sentTotal = sent.sent.reduce((a, b) => a + b, 0);
  const replies = (x: typeof s) => x.repliesOk + Object.values(x.replyErrors).reduce((a, b) => a + b, 0);
  let lastCount = s.stepDelivered + replies(s);
  let lastChange = ctx.clock();
  while (
    (s.stepDelivered < expected || replies(s) < sentTotal) &&
    ctx.clock() - lastChange < DRAIN_IDLE_MS &&
    ctx.clock() - sendEnd < DRAIN_MAX_MS
  ) {
    await sleep(100);
    s = await pool.stats();
    const count = s.stepDelivered + replies(s);
    if (count !== lastCount) {
      lastCount = count;
      lastChange = ctx.clock();
    }
    ctx.progress.update(`${label}: draining, ${s.stepDelivered}/${expected} delivered, ${replies(s)}/${sentTotal} acked`);
  }
  s = await pool.stats(true);
  const drainEnd = ctx.clock();
  const cpuS1 = load.serverCpu();
  const serverCpu = cpuS0 === null || cpuS1 === null ? null : cpuS1 - cpuS0;
  const genEach = pool.cpuMicrosEach().map((v, i) => v - (cpuG0[i] ?? 0));
  const genCpu = genEach.reduce((a, b) => a + b, 0);
  const genMaxProc = Math.max(0, ...genEach);
  const wallMs = drainEnd - t0;
  const sendMs = sent.ms;
  const activeMs = Math.max(sendMs, (s.lastDeliveryAt || sendEnd) - t0);
  const delivered = s.stepDelivered;
  const dropped = s.dropped - before.dropped;
  const missing = Math.max(0, expected - delivered);
  // Still arriving when the drain gave up: the server is behind, which is a backlog, not a loss.
  const stillArriving = missing > 0 && ctx.clock() - lastChange < DRAIN_IDLE_MS;
  const loss = stillArriving ? 0 : missing;
  const backlog = stillArriving ? missing : 0;
  const offeredPerSec = expected / (sendMs / 1000);
  const deliveredPerSec = delivered / (activeMs / 1000);
  const errors = [counts(s.errorFrames), counts(s.replyErrors), dropped ? `${dropped} connections dropped: ${counts(s.dropReasons)}` : '']
    .filter(Boolean)
    .join('; ');
  return {
    rate,
    sent: sentTotal,
    expected,
    delivered,
    deliveredByNode: s.stepByNode,
    loss,
    backlog,
    offeredPerSec: Math.round(offeredPerSec),
    deliveredPerSec: Math.round(deliveredPerSec),
    p50: ms(s.hist.quantile(0.5)),
    p99: ms(s.hist.quantile(0.99)),
    p999: ms(s.hist.quantile(0.999)),
    max: ms(s.hist.count ? s.hist.maxUs / 1000 : null),
    ackP50: ms(s.replyHist.quantile(0.5)),
    ackP99: ms(s.replyHist.quantile(0.99)),
    acks: s.repliesOk,
    serverCpuUsPerMsg: delivered > 0 && serverCpu !== null ? round(serverCpu / delivered, 3) : null,
    serverCores: serverCpu === null ? null : round(serverCpu / 1000 / wallMs, 2),
    genCores: round(genCpu / 1000 / wallMs, 2),
    genMaxProcCores: round(genMaxProc / 1000 / wallMs, 2),
    genSaturated: genMaxProc / 1000 / wallMs >= GEN_SATURATED,
    drainMs: Math.round(drainEnd - sendEnd),
    dropped,
    errors,
    sustained: missing === 0 && dropped === 0 && delivered > 0 && deliveredPerSec >= 0.95 * offeredPerSec,
  };
}

/**
 * A note when the top step used (nearly) every core of the machine between server and
 * generator: the limit found is then the machine's, not the server's alone.
 */
export function machineNote(sum: SteppedSummary, cores: number): string | null {
  const top = sum.steps[sum.steps.length - 1];
  if (!top) return null;
  if (top.serverCores === null) return null;
  const used = top.serverCores + top.genCores;
  return used >= 0.9 * cores
    ? `top step used ${used.toFixed(2)} of ${cores} cores (server ${top.serverCores}, generator ${top.genCores}): the limit there is the shared machine's`
    : null;
}

/** Notes worth a line in the report: errors, backlogs and a machine-bound top step. */
export function stepNotes(sum: SteppedSummary, rateUnit: string): string[] {
  const notes: string[] = [];
  for (const s of sum.steps) {
    if (s.errors) notes.push(`at ${s.rate} ${rateUnit}: ${s.errors}`);
    if (s.backlog) notes.push(`at ${s.rate} ${rateUnit}: ${s.backlog} messages still arriving ${s.drainMs} ms after sending stopped (server behind; not counted as loss)`);
    if (s.acks < s.sent && s.acks > 0) notes.push(`at ${s.rate} ${rateUnit}: ${s.sent - s.acks} of ${s.sent} sends got no ack`);
    if (s.genSaturated) {
      notes.push(`at ${s.rate} ${rateUnit}: generator saturated (busiest generator process at ${s.genMaxProcCores} of a core): this step's latencies are the generator's, do not quote them`);
    }
  }
  const machine = machineNote(sum, cpus().length);
  if (machine) notes.push(machine);
  const first = sum.steps[0];
  if (!sum.atP99 && first && first.p99 !== null) {
    notes.push(`no sustained step kept p99 under 100 ms (p99 ${first.p99} ms already at ${first.rate} ${rateUnit}; latency figures are those of the sustained maximum)`);
  }
  return notes;
}

export interface SteppedSummary {
  steps: StepResult[];
  /** Highest delivered/s of a sustained step with p99 under the limit (null: none). */
  atP99: StepResult | null;
  /** Highest delivered/s of any sustained step. */
  sustainedMax: StepResult | null;
  /** True when the last step was not sustained (the maximum was found, not just a lower bound). */
  saturated: boolean;
  totalLoss: number;
}

/**
 * Runs steps at `rates` in order, stopping after the first step that is not sustained.
 * A step over the p99 limit does not stop the stepping: the sustained maximum may lie
 * above the rate at which latency first crossed the limit.
 */
export async function runSteps(ctx: Ctx, pool: Pool, load: StepLoad, rates: number[], label: string): Promise<SteppedSummary> {
  const steps: StepResult[] = [];
  let saturated = false;
  for (let i = 0; i < rates.length; i++) {
    const r = await runStep(ctx, pool, load, rates[i]!, `${label} step ${i + 1}/${rates.length} (${rates[i]} msg/s each)`);
    steps.push(r);
    ctx.progress.line(
      `  ${label} step ${i + 1}: offered ${fmtRate(r.offeredPerSec)}/s, delivered ${fmtRate(r.deliveredPerSec)}/s, ` +
        `p50 ${r.p50} ms, p99 ${r.p99} ms, loss ${r.loss}${r.backlog ? `, backlog ${r.backlog} still arriving after ${r.drainMs} ms` : ''}, ` +
        `server ${r.serverCores ?? 'n/a'} cores, generator ${r.genCores} cores (busiest process ${r.genMaxProcCores}${r.genSaturated ? ', SATURATED' : ''})` +
        (r.errors ? `, errors: ${r.errors}` : ''),
    );
    if (!r.sustained) {
      saturated = true;
      break;
    }
  }
  const ok = steps.filter((s) => s.sustained);
  const best = (xs: StepResult[]) => xs.reduce<StepResult | null>((b, s) => (!b || s.deliveredPerSec > b.deliveredPerSec ? s : b), null);
  return {
    steps,
    atP99: best(ok.filter((s) => (s.p99 ?? Infinity) < load.p99LimitMs)),
    sustainedMax: best(ok),
    saturated,
    totalLoss: steps.reduce((a, s) => a + s.loss, 0),
  };
}
