/**
 * `connect`: open N authenticated connections (JWT checked at upgrade for the gateway),
 * measure the time, the failures and the server's RSS before and after (→ KB per
 * connection, and again 10 s after the burst: idle memory), prove they are alive with a
 * ping each; then grow to M connections held
 * by the same process and do it again.
 */
import { describeCounts, openRange, round, withPool, withServer, workersFor, type Ctx, type Outcome, type Scenario } from '../lib/context.js';
import { sleep } from '../lib/net.js';
import type { Pool } from '../lib/pool.js';
import type { Running } from '../lib/targets.js';

/** Waits until the server's RSS stops moving (the allocator settles after a burst), at most 3 s; null when unreadable (--url without --pid). */
async function settledRss(srv: Running): Promise<number | null> {
  let prev = srv.server.rssKB();
  if (prev === null) return null;
  for (let i = 0; i < 12; i++) {
    await sleep(250);
    const now = srv.server.rssKB();
    if (now === null) return null;
    if (Math.abs(now - prev) <= prev * 0.005) return now;
    prev = now;
  }
  return prev;
}

interface Phase {
  target: number;
  opened: number;
  failedOpens: number;
  openMs: number;
  pongs: number;
  lost: number;
  rssKB: number | null;
  /** RSS 10 s after the last connection opened (idle meanwhile), when asked for; null when unreadable. */
  rss10sKB: number | null | undefined;
  serverCpuUs: number | null;
  /** CPU of all generator processes while opening (µs): the upgrade rate is only the server's when this is far from saturated. */
  genCpuUs: number;
  reasons: string;
}

/** Idle time after the open burst before the "after 10 s" RSS reading. */
const IDLE_RSS_MS = 10_000;

async function phase(ctx: Ctx, srv: Running, pool: Pool, from: number, to: number, label: string, idleRss = false): Promise<Phase> {
  const cpu0 = srv.server.cpuMicros();
  const gen0 = pool.cpuMicros();
  const r = await openRange(ctx, pool, from, to, label);
  const cpu1 = srv.server.cpuMicros();
  const serverCpuUs = cpu0 === null || cpu1 === null ? null : cpu1 - cpu0;
  const genCpuUs = pool.cpuMicros() - gen0;
  const openedAt = Date.now();
  const rssKB = await settledRss(srv);
  let rss10sKB: number | null | undefined;
  if (idleRss) {
    await sleep(Math.max(0, openedAt + IDLE_RSS_MS - Date.now()));
    rss10sKB = srv.server.rssKB();
  }
  const ping = await pool.ping(15_000);
  const s = await pool.stats();
  ctx.progress.line(`  ${label}: ${s.open} open in ${round(r.ms / 1000, 2)} s, ${r.failed} failed, ${ping.ok}/${s.open} answered a ping`);
  const reasons = [describeCounts(r.reasons), describeCounts(ping.reasons), describeCounts(s.dropReasons)].filter(Boolean).join('; ');
  return {
    target: to,
    opened: s.open,
    failedOpens: r.failed,
    openMs: r.ms,
    pongs: ping.ok,
    lost: to - ping.ok,
    rssKB,
    rss10sKB,
    serverCpuUs,
    genCpuUs,
    reasons,
  };
}

export const connect: Scenario = {
  name: 'connect',
  title: 'Open authenticated connections; memory per connection',
  figures: [
    { key: 'connections', label: 'connections opened (phase 1)', unit: '', better: 'none' },
    { key: 'open_s', label: 'time to open them all', unit: 's', better: 'lower' },
    { key: 'upgrades_per_s', label: 'upgrades per second (connections opened ÷ time to open them)', unit: '/s', better: 'higher' },
    { key: 'open_cpu_us', label: 'server CPU per connection opened', unit: 'µs', better: 'lower' },
    { key: 'open_gen_cores', label: 'generator cores while opening', unit: '', better: 'none' },
    { key: 'failures', label: 'failures (open, lost, no pong)', unit: '', better: 'lower' },
    { key: 'rss_before_mb', label: 'server RSS before', unit: 'MB', better: 'none' },
    { key: 'rss_after_mb', label: 'server RSS after', unit: 'MB', better: 'none' },
    { key: 'kb_per_conn', label: 'memory per connection', unit: 'KB', better: 'lower' },
    { key: 'kb_per_conn_10s', label: 'memory per idle connection, RSS 10 s after the burst', unit: 'KB', better: 'lower' },
    { key: 'held_max', label: 'connections held by one process (phase 2)', unit: '', better: 'higher' },
    { key: 'failures_max', label: 'failures at that size', unit: '', better: 'lower' },
    { key: 'kb_per_conn_max', label: 'memory per connection at that size', unit: 'KB', better: 'lower' },
    { key: 'kb_per_conn_max_10s', label: 'memory per idle connection at that size, RSS 10 s after its burst', unit: 'KB', better: 'lower' },
  ],
  targets: (all) => all,
  async run(ctx, target): Promise<Outcome> {
    const n = ctx.opts.connections;
    const m = Math.max(n, ctx.opts.maxConnections);
    return withServer(ctx, target, async (srv): Promise<Outcome> => {
      await sleep(500);
      const rss0 = await settledRss(srv);
      return withPool(ctx, target, [srv.port], workersFor(ctx, m), async (pool): Promise<Outcome> => {
        const p1 = await phase(ctx, srv, pool, 0, n, `${target.name} connect`, true);
        const p2 = m > n ? await phase(ctx, srv, pool, n, m, `${target.name} connect (to ${m})`, !ctx.opts.quick) : p1;
        const gone = srv.server.exitReason();
        if (gone) return { status: 'failed' as const, reason: `server died: ${gone}\n${srv.server.output()}`, figures: {}, notes: [] };
        const notes = [p1.reasons, p2 === p1 ? '' : p2.reasons].filter(Boolean);
        return {
          status: 'ok' as const,
          figures: {
            connections: n,
            open_s: round(p1.openMs / 1000, 2),
            upgrades_per_s: p1.openMs > 0 ? Math.round(p1.opened / (p1.openMs / 1000)) : null,
            open_cpu_us: p1.serverCpuUs === null ? null : round(p1.serverCpuUs / Math.max(1, p1.opened), 1),
            open_gen_cores: p1.openMs > 0 ? round(p1.genCpuUs / 1000 / p1.openMs, 2) : null,
            failures: p1.lost,
            rss_before_mb: rss0 === null ? null : round(rss0 / 1024, 1),
            rss_after_mb: p1.rssKB === null ? null : round(p1.rssKB / 1024, 1),
            kb_per_conn: rss0 === null || p1.rssKB === null ? null : round((p1.rssKB - rss0) / Math.max(1, p1.opened), 2),
            kb_per_conn_10s: rss0 === null || p1.rssKB === null ? null : round(((p1.rss10sKB ?? p1.rssKB) - rss0) / Math.max(1, p1.opened), 2),
            held_max: p2.pongs,
            failures_max: m - p2.pongs,
            kb_per_conn_max: rss0 === null || p2.rssKB === null ? null : round((p2.rssKB - rss0) / Math.max(1, p2.opened), 2),
            // Not read in --quick runs (10 s more per target for a smoke check).
            kb_per_conn_max_10s: rss0 === null || p2.rss10sKB == null ? null : round((p2.rss10sKB - rss0) / Math.max(1, p2.opened), 2),
          },
          details: { phases: [p1, p2 === p1 ? null : p2], rssBeforeKB: rss0, maxTarget: m },
          notes,
        };
      });
    });
  },
};
