/**
 * The run's results as JSON (everything, per-step details included) and as Markdown:
 * one table per scenario with each target's figures and the gateway's figures as a
 * ratio to each peer, then the targets of the issue checked one by one.
 */
import { at, quotedRates, type BenchOptions } from './args.js';
import type { FigureDef, FigureValue, Scenario, ScenarioResult } from './context.js';
import { PEERS, type TargetName } from './targets.js';

export interface RunMeta {
  date: string;
  node: string;
  cpu: string;
  cores: number;
  memoryGB: number;
  commit: string | null;
  options: BenchOptions;
  elapsedMs: number;
  /** 1-minute load average at the start and the end: how busy the shared machine was. */
  loadAvg: { start: number; end: number };
}

export interface Check {
  target: string;
  goal: string;
  result: string;
  /** null: could not be checked (the reason is in `result`). */
  pass: boolean | null;
}

export interface Report {
  meta: RunMeta;
  results: ScenarioResult[];
  checks: Check[];
}

function fmt(v: FigureValue | undefined): string {
  if (v === null || v === undefined) return '–';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'string') return v;
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  const abs = Math.abs(v);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** gateway ÷ peer, when both are positive numbers and the figure has a direction. */
export function ratio(def: FigureDef, ours: FigureValue | undefined, theirs: FigureValue | undefined): number | null {
  if (def.better === 'none' || typeof ours !== 'number' || typeof theirs !== 'number' || theirs <= 0 || ours < 0) return null;
  return ours / theirs;
}

function find(results: ScenarioResult[], scenario: string, target: TargetName): ScenarioResult | undefined {
  return results.find((r) => r.scenario === scenario && r.target === target);
}

function num(r: ScenarioResult | undefined, key: string): number | null {
  const v = r?.status === 'ok' ? r.figures[key] : undefined;
  return typeof v === 'number' ? v : null;
}

function why(r: ScenarioResult | undefined, name: string): string {
  if (!r) return `${name} not run`;
  if (r.status !== 'ok') return `${name} ${r.status}: ${(r.reason ?? '').split('\n')[0]}`;
  return `${name} has no figure`;
}

/** Checks one ratio goal: ours ≤ (or ≥) factor × theirs. */
function ratioCheck(
  results: ScenarioResult[], scenario: string, key: string, peer: TargetName, factor: number, dir: 'le' | 'ge', label: string,
): Check {
  const g = find(results, scenario, 'gateway');
  const p = find(results, scenario, peer);
  const ours = num(g, key);
  const theirs = num(p, key);
  const goal = `${label} ${dir === 'le' ? '≤' : '≥'} ${factor}× ${peer}`;
  if (ours === null) return { target: scenario, goal, result: why(g, 'gateway'), pass: null };
  if (theirs === null) return { target: scenario, goal, result: why(p, peer), pass: null };
  const ok = dir === 'le' ? ours <= factor * theirs : ours >= factor * theirs;
  return { target: scenario, goal, result: `${fmt(ours)} vs ${fmt(theirs)} (${(ours / theirs).toFixed(2)}×)`, pass: ok };
}

export function checkTargets(results: ScenarioResult[], opts: BenchOptions, elapsedMs: number): Check[] {
  const checks: Check[] = [];
  const has = (s: string) => opts.scenarios.includes(s as never);
  if (has('connect')) {
    // The issue's two memory figures are idle ones: RSS 10 s after each burst, at N and at M connections.
    checks.push(ratioCheck(results, 'connect', 'kb_per_conn_10s', 'raw-uws', 2, 'le', 'KB per idle connection (10 s after the burst)'));
    checks.push(ratioCheck(results, 'connect', 'kb_per_conn_max_10s', 'raw-uws', 2, 'le', 'KB per idle connection at 19,000'));
    checks.push(ratioCheck(results, 'connect', 'kb_per_conn', 'socketio', 0.25, 'le', 'KB per connection'));
    checks.push(ratioCheck(results, 'connect', 'upgrades_per_s', 'raw-uws', 0.7, 'ge', 'upgrades/s'));
    checks.push(ratioCheck(results, 'connect', 'open_cpu_us', 'raw-uws', 2, 'le', 'server CPU per upgrade'));
    const g = find(results, 'connect', 'gateway');
    const held = num(g, 'held_max');
    const fails = num(g, 'failures_max');
    checks.push(
      held === null || fails === null
        ? { target: 'connect', goal: '19,000 connections held by one process, 0 failures', result: why(g, 'gateway'), pass: null }
        : {
            target: 'connect',
            goal: '19,000 connections held by one process, 0 failures',
            result: `${held} held of ${Math.max(opts.connections, opts.maxConnections)}, ${fails} failures`,
            pass: held >= 19_000 && fails === 0 ? true : opts.maxConnections < 19_000 ? null : false,
          },
    );
  }
  for (const sc of ['fanout', 'room']) {
    if (!has(sc)) continue;
    checks.push(ratioCheck(results, sc, 'sustained_max', 'raw-uws', 0.8, 'ge', 'delivered msg/s'));
    checks.push(ratioCheck(results, sc, 'sustained_max', 'socketio', 5, 'ge', 'delivered msg/s'));
    const g = find(results, sc, 'gateway');
    const loss = num(g, 'loss');
    checks.push({ target: sc, goal: '0 loss', result: loss === null ? why(g, 'gateway') : `${loss} lost`, pass: loss === null ? null : loss === 0 });
  }
  if (has('direct')) {
    const g = find(results, 'direct', 'gateway');
    const rates = quotedRates(opts);
    const light = rates[0]!;
    const p99 = num(g, at('rtt_p99_ms', light));
    checks.push({
      target: 'direct',
      goal: `p99 round trip ≤ 2 ms at ${opts.connections} connections, ${light} msg/s`,
      result: p99 === null ? why(g, 'gateway') : `${p99} ms`,
      pass: p99 === null ? null : p99 <= 2,
    });
    for (const r of rates) checks.push(ratioCheck(results, 'direct', at('rtt_p99_ms', r), 'raw-uws', 2, 'le', `round trip p99 at ${r} msg/s`));
    const top = rates[rates.length - 1]!;
    checks.push(ratioCheck(results, 'direct', at('server_cpu_us_per_msg', top), 'raw-uws', 3, 'le', `server CPU per message at ${top} msg/s`));
  }
  if (has('http')) {
    checks.push(ratioCheck(results, 'http', 'requests_per_s', 'raw-uws', 0.5, 'ge', 'push requests/s (memory inbox)'));
    const g = find(results, 'http', 'gateway');
    const p = find(results, 'http', 'raw-uws');
    const durable = num(g, 'durable_requests_per_s');
    const base = num(p, 'requests_per_s');
    checks.push({
      target: 'http',
      goal: 'push requests/s with the default durable inbox (fsync), reported beside raw-uws',
      result: durable === null ? why(g, 'gateway') : base === null ? `${fmt(durable)} (no raw-uws figure)` : `${fmt(durable)} vs ${fmt(base)} (${(durable / base).toFixed(2)}×)`,
      pass: null,
    });
  }
  if (has('soak')) {
    const g = find(results, 'soak', 'gateway');
    const growth = num(g, 'rss_growth_pct');
    const lost = num(g, 'lost');
    checks.push({ target: 'soak', goal: 'RSS growth after the first minute < 5 %', result: growth === null ? `n/a (${g?.status === 'ok' ? 'RSS not sampled' : why(g, 'gateway')})` : `${growth} %`, pass: growth === null ? null : growth < 5 });
    checks.push({ target: 'soak', goal: '0 messages lost', result: lost === null ? why(g, 'gateway') : `${lost} lost of ${num(g, 'acked')} acknowledged`, pass: lost === null ? null : lost === 0 });
  }
  if (opts.quick) {
    checks.push({ target: 'quick mode', goal: 'finishes in under 2 minutes', result: `${(elapsedMs / 1000).toFixed(1)} s`, pass: elapsedMs < 120_000 });
  }
  return checks;
}

function table(sc: Scenario, results: ScenarioResult[], opts: BenchOptions): string[] {
  const targets = opts.targets;
  const rows = results.filter((r) => r.scenario === sc.name);
  const shown = targets.filter((t) => rows.some((r) => r.target === t));
  const gatewayOk = rows.some((r) => r.target === 'gateway' && r.status === 'ok');
  const peers = PEERS.filter((p) => shown.includes(p) && gatewayOk);
  const head = ['figure', ...shown, ...peers.map((p) => `gateway ÷ ${p}`)];
  const out = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const def of sc.figuresFor?.(opts) ?? sc.figures) {
    const cells = shown.map((t) => {
      const r = rows.find((x) => x.target === t);
      return r?.status === 'ok' ? fmt(r.figures[def.key]) : r?.status ?? '–';
    });
    const g = rows.find((x) => x.target === 'gateway');
    const ratios = peers.map((p) => {
      const pr = rows.find((x) => x.target === p);
      const v = ratio(def, g?.status === 'ok' ? g.figures[def.key] : undefined, pr?.status === 'ok' ? pr.figures[def.key] : undefined);
      return v === null ? '' : `${v.toFixed(2)}×`;
    });
    out.push(`| ${def.label}${def.unit ? ` (${def.unit})` : ''} | ${[...cells, ...ratios].join(' | ')} |`);
  }
  // How busy the shared machine was: figures taken under different loads compare less well.
  const loads = shown.map((t) => fmt(rows.find((x) => x.target === t)?.loadAtStart ?? null));
  out.push(`| machine load average at start | ${[...loads, ...peers.map(() => '')].join(' | ')} |`);
  return out;
}

/** The report as Markdown; `chart(scenario)` names the SVG file to link under its table (null: none). */
export function markdown(report: Report, scenarios: Scenario[], chart: (scenario: string) => string | null = () => null): string {
  const m = report.meta;
  const o = m.options;
  const lines = [
    `# Switchboard bench — ${m.date}`,
    '',
    `${m.cores} × ${m.cpu}, ${m.memoryGB} GB, Node ${m.node}${m.commit ? `, commit ${m.commit}` : ''}. ` +
      `Mode: ${o.quick ? 'quick' : 'full'}; ${o.connections} connections; load steps of ${o.stepMs / 1000} s; ` +
      `~${o.size}-byte frames; run took ${(m.elapsedMs / 1000).toFixed(0)} s; ` +
      `load average ${m.loadAvg.start.toFixed(1)} at the start, ${m.loadAvg.end.toFixed(1)} at the end.` +
      // The commit above is the checkout's; a --gateway build may be another one.
      (o.gateway ? ` The gateway ran from \`${o.gateway}\` (--gateway), not from this checkout's build.` : ''),
    '',
    'Server and generator share this machine. Ratios are gateway ÷ peer (lower is better for times, memory and CPU; higher for rates).',
    'The socketio peer speaks Socket.IO\'s default JSON encoding with the same payloads (its frames are text, slightly larger than MessagePack).',
  ];
  for (const sc of scenarios) {
    const rows = report.results.filter((r) => r.scenario === sc.name);
    if (rows.length === 0) continue;
    lines.push('', `## ${sc.name} — ${sc.title}`, '');
    if (rows.some((r) => r.status === 'ok')) lines.push(...table(sc, report.results, o));
    const svg = chart(sc.name);
    if (svg) lines.push('', `![${sc.name}: delivered messages/s vs p99 latency, one line per target](${svg})`);
    for (const r of rows) {
      if (r.status !== 'ok') lines.push('', `- ${r.target}: **${r.status}**: ${(r.reason ?? '').split('\n')[0]}`);
      for (const n of r.notes) lines.push(`- ${r.target}: ${n}`);
    }
  }
  if (report.checks.length > 0) {
    lines.push('', '## Targets', '', '| scenario | goal | result | met |', '| --- | --- | --- | :---: |');
    for (const c of report.checks) {
      lines.push(`| ${c.target} | ${c.goal} | ${c.result} | ${c.pass === null ? 'n/a' : c.pass ? 'yes' : '**no**'} |`);
    }
  }
  return lines.join('\n') + '\n';
}
