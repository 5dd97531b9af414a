/**
 * `npm run bench`: starts each server under test on a free loopback port, runs the
 * scenarios against it with the generator, stops everything, and writes
 * results/<date>.json, results/<date>.md and results/latest.md. Exit code 0 when every
 * scenario ran or was skipped for a stated reason, 1 when one failed, 2 for bad options.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, copyFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs, USAGE, type ScenarioName } from './lib/args.js';
import { BENCH_DIR, buildChildren } from './lib/build.js';
import { makeCtx, type Outcome, type Scenario, type ScenarioResult } from './lib/context.js';
import { Progress } from './lib/progress.js';
import { checkTargets, markdown, type Report } from './lib/report.js';
import { defaultGatewayEntry, gatewayMissing, remoteTarget, target, type Remote, type Target, type TargetName } from './lib/targets.js';
import { loadRemote } from './lib/remote.js';
import { soak } from './scenarios/soak.js';
import { scenarioCharts } from './lib/charts.js';
import { ServerProcess } from './lib/server-proc.js';
import { connect } from './scenarios/connect.js';
import { fanout, room } from './scenarios/fanout.js';
import { direct } from './scenarios/direct.js';
import { http } from './scenarios/http.js';
import { cluster } from './scenarios/cluster.js';

const SCENARIOS: Record<ScenarioName, Scenario> = { connect, fanout, room, direct, http, cluster, soak };

/** Why `sc` × `name` cannot run against the --url gateway, or null when it can. */
function remoteSkip(sc: Scenario, name: TargetName): string | null {
  if (sc.needsOwnServers) return `--url: ${sc.needsOwnServers}`;
  if (name !== 'gateway') return '--url: peers run only when the bench starts the servers itself';
  return null;
}

function commit(root: string): string | null {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch (err) {
    process.stderr.write(`(no git commit for the report: ${(err as Error).message.split('\n')[0]})\n`);
    return null;
  }
}

async function main(): Promise<number> {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2), join(BENCH_DIR, 'results'));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let remote: Remote | null = null;
  if (opts.url) {
    try {
      const needed = opts.scenarios.includes('connect') ? Math.max(opts.connections, opts.maxConnections) : opts.connections;
      remote = loadRemote({ url: opts.url, secret: opts.secret, tokenFile: opts.tokenFile, pid: opts.pid }, needed);
    } catch (err) {
      process.stderr.write(`${(err as Error).message}\n`);
      return 2;
    }
  }
  const started = Date.now();
  const loadStart = loadavg()[0]!;
  const root = dirname(BENCH_DIR);
  const buildDir = buildChildren();
  const progress = new Progress();
  const gatewayEntry = opts.gateway ? resolve(opts.gateway) : defaultGatewayEntry(root);
  const ctx = makeCtx(opts, { root, buildDir, secret: randomBytes(32).toString('base64url'), gatewayEntry }, progress, remote);
  // Against --url nothing is started, so nothing needs to be built.
  const missing = remote ? null : gatewayMissing(gatewayEntry);
  const targetOf = (name: TargetName): Target => (remote && name === 'gateway' ? remoteTarget(remote) : target(name));
  if (remote) progress.line(`--url: loading the gateway at ${remote.url}; it is never started or stopped by the bench`);
  const results: ScenarioResult[] = [];
  const order = opts.scenarios.map((s) => SCENARIOS[s]);

  for (const sc of order) {
    for (const name of sc.targets(opts.targets)) {
      const t0 = Date.now();
      const loadAtStart = Math.round(loadavg()[0]! * 100) / 100;
      progress.line(`${sc.name} × ${name} (load average ${loadAtStart})`);
      let r: Outcome;
      const skip = remote ? remoteSkip(sc, name) : name === 'gateway' ? missing : null;
      if (skip) {
        r = { status: 'skipped', reason: skip, figures: {}, notes: [] };
      } else {
        try {
          r = await sc.run(ctx, targetOf(name));
        } catch (err) {
          r = { status: 'failed', reason: (err as Error).message, figures: {}, notes: [] };
        }
      }
      const res: ScenarioResult = { scenario: sc.name, target: name, ...r, elapsedMs: Date.now() - t0, loadAtStart };
      results.push(res);
      if (res.status !== 'ok') progress.line(`  ${res.status}: ${res.reason}`);
    }
  }

  const elapsedMs = Date.now() - started;
  const date = new Date(started).toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
  const cpu = cpus();
  const report: Report = {
    meta: {
      date: new Date(started).toISOString(),
      node: process.version,
      cpu: cpu[0]?.model.trim() ?? 'unknown CPU',
      cores: cpu.length,
      memoryGB: Math.round(totalmem() / 2 ** 30),
      commit: commit(root),
      options: opts,
      elapsedMs,
      loadAvg: { start: loadStart, end: loadavg()[0]! },
    },
    results,
    checks: checkTargets(results, opts, elapsedMs),
  };
  mkdirSync(opts.outDir, { recursive: true });
  // One chart per stepped scenario, beside the Markdown: <date>-<scenario>.svg and latest-<scenario>.svg.
  const charts = scenarioCharts(results);
  for (const [sc, svg] of charts) {
    writeFileSync(join(opts.outDir, `${date}-${sc}.svg`), svg);
    copyFileSync(join(opts.outDir, `${date}-${sc}.svg`), join(opts.outDir, `latest-${sc}.svg`));
  }
  const chartLink = (prefix: string) => (sc: string) => (charts.has(sc) ? `${prefix}-${sc}.svg` : null);
  const md = markdown(report, order, chartLink(date));
  writeFileSync(join(opts.outDir, `${date}.json`), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(join(opts.outDir, `${date}.md`), md);
  writeFileSync(join(opts.outDir, 'latest.md'), markdown(report, order, chartLink('latest')));
  process.stdout.write(md);
  process.stderr.write(`\nwrote ${join(opts.outDir, `${date}.json`)} and .md (${(elapsedMs / 1000).toFixed(1)} s)\n`);
  return results.some((r) => r.status === 'failed') ? 1 : 0;
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    process.stderr.write(`\n${sig}: stopping servers and generators\n`);
    ServerProcess.killAll();
    process.exit(130);
  });
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
    ServerProcess.killAll();
    process.exit(1);
  },
);
