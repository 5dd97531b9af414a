/**
 * What a scenario gets (options, paths, secret, clock, progress) and what it returns,
 * plus the steps every scenario repeats: start a server, start the generator, open
 * connections with a progress line, stop everything whatever happened.
 */
import { makeClock, type Clock } from './clock.js';
import { Pool } from './pool.js';
import { Progress, whileRunning, fmtRate } from './progress.js';
import type { BenchOptions, ScenarioName } from './args.js';
import type { Remote, Running, StartContext, Target, TargetName } from './targets.js';
import { HOST } from './targets.js';
import type { OpenResult } from '../gen/protocol.js';

export interface Ctx extends StartContext {
  opts: BenchOptions;
  /** The gateway given by --url (never started or stopped by the bench), or null. */
  remote: Remote | null;
  clockBase: bigint;
  clock: Clock;
  progress: Progress;
}

export function makeCtx(opts: BenchOptions, start: StartContext, progress: Progress, remote: Remote | null = null): Ctx {
  const clockBase = process.hrtime.bigint();
  return { ...start, opts, remote, clockBase, clock: makeClock(clockBase), progress };
}

/** A figure is a number (null when not measured) or a short text. */
export type FigureValue = number | string | boolean | null;

export interface ScenarioResult {
  scenario: ScenarioName;
  target: TargetName;
  status: 'ok' | 'skipped' | 'failed';
  /** Why it was skipped or failed. */
  reason?: string;
  figures: Record<string, FigureValue>;
  /** Per-step measurements and anything else worth keeping in the JSON. */
  details?: unknown;
  notes: string[];
  elapsedMs: number;
  /** 1-minute load average of the machine when this run started (others share it). */
  loadAtStart: number;
}

/** What a scenario's run returns; the runner adds scenario, target and time. */
export type Outcome = Omit<ScenarioResult, 'scenario' | 'target' | 'elapsedMs' | 'loadAtStart'>;

export interface FigureDef {
  key: string;
  label: string;
  unit: string;
  /** Which way is better, for ratios in the report ("none": no ratio). */
  better: 'higher' | 'lower' | 'none';
}

export interface Scenario {
  name: ScenarioName;
  title: string;
  figures: FigureDef[];
  /** The figures for these options, when their labels depend on them (e.g. the rates stepped); else `figures`. */
  figuresFor?(opts: BenchOptions): FigureDef[];
  /** Targets this scenario runs against (some scenarios are gateway-only plus a baseline). */
  targets(all: TargetName[]): TargetName[];
  run(ctx: Ctx, target: Target): Promise<Outcome>;
  /** Why this scenario cannot run against a gateway given by --url (it restarts servers or starts its own); absent: it can. */
  needsOwnServers?: string;
}

/** At most 9,000 connections per generator process (20,000 open files each), at least 2 above 2,000 connections. */
export function workersFor(ctx: Ctx, connections: number): number {
  if (ctx.opts.workers > 0) return ctx.opts.workers;
  const n = Math.ceil(connections / 9000);
  return connections >= 2000 ? Math.max(2, n) : n;
}

export async function withServer<T>(
  ctx: Ctx,
  target: Target,
  fn: (srv: Running) => Promise<T>,
  env?: Record<string, string>,
): Promise<T> {
  const srv = await target.start(ctx, env);
  try {
    return await fn(srv);
  } finally {
    await srv.server.stop();
    srv.cleanup();
  }
}

export async function withPool<T>(
  ctx: Ctx,
  target: Target,
  ports: number[],
  workers: number,
  fn: (pool: Pool) => Promise<T>,
  decodeDeliveries = false,
): Promise<T> {
  const r = ctx.remote;
  const host = r?.host ?? HOST;
  const pool = await Pool.start(
    ctx.buildDir,
    workers,
    {
      codec: target.codec,
      host,
      path: r?.path ?? '/ws',
      remoteHost: r !== null,
      tokens: r?.tokens ?? null,
      users: r?.users ?? null,
      ports,
      secret: r ? r.secret : target.jwt ? ctx.secret : null,
      clockBase: ctx.clockBase.toString(),
      decodeDeliveries,
    },
    // Generator processes bind 127.77.x.y source addresses, which reach only IPv4 loopback.
    host.startsWith('127.'),
  );
  try {
    return await fn(pool);
  } finally {
    await pool.stop();
  }
}

/** Opens connections idx ∈ [from, to) with a progress line; at most 256 handshakes in flight. */
export async function openRange(ctx: Ctx, pool: Pool, from: number, to: number, label: string): Promise<OpenResult> {
  const idxs = Array.from({ length: to - from }, (_, i) => from + i);
  const t0 = Date.now();
  const r = await whileRunning(pool.open(idxs, 256, 15_000), 1000, async () => {
    const s = await pool.stats();
    const el = (Date.now() - t0) / 1000;
    ctx.progress.update(`${label}: ${s.open}/${to} open, ${el.toFixed(1)}s, ${fmtRate((s.open - from) / Math.max(el, 0.001))} conn/s`);
  });
  return r;
}

export function describeCounts(m: Record<string, number>): string {
  return Object.entries(m)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
    .map(([k, v]) => `${v}× ${k}`)
    .join('; ');
}

/** The milliseconds of a latency quantile, rounded for the report. */
export function ms(v: number | null): number | null {
  return v === null ? null : Math.round(v * 1000) / 1000;
}

export function round(v: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
