/**
 * Command-line options of `npm run bench`. Sizes default to the full-size run;
 * `--quick` shrinks them to a smoke check (< 2 minutes for everything) and explicit
 * options still win over it. Bad input is an error that names the option.
 */
import { TARGETS, type TargetName } from './targets.js';

export const SCENARIOS = ['connect', 'fanout', 'room', 'direct', 'http', 'cluster', 'soak'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];
/** What runs when --scenario is not given: everything but the soak, which runs only when asked for. */
const DEFAULT_SCENARIOS = SCENARIOS.filter((s) => s !== 'soak');

export interface BenchOptions {
  scenarios: ScenarioName[];
  targets: TargetName[];
  /** Connections of fanout, room and direct, and the first phase of connect. */
  connections: number;
  /** Second phase of connect: connections held by one server process. */
  maxConnections: number;
  /** Total connections of the cluster scenario, spread over its 3 gateway nodes. */
  clusterConnections: number;
  /** Length of one load step (ms). */
  stepMs: number;
  /** Most load steps per scenario (rates double each step). */
  steps: number;
  /** Publish rates per publisher (messages/s), one per step; default: doubling from a base. */
  rates: number[] | null;
  /** Direct messages/s over all active pairs together, one per step (each pair sends rate ÷ pairs). */
  directRates: number[];
  /** fanout: number of groups (one publisher each). */
  groups: number;
  /** direct: number of active sender → recipient pairs. */
  pairs: number;
  /** Approximate size of one sent frame (bytes). */
  size: number;
  /** Generator processes; 0 picks from the connection count. */
  workers: number;
  /** Where results/<date>.json and .md go. */
  outDir: string;
  /** The gateway's entry script; null: dist/main.js of the repository. */
  gateway: string | null;
  /** --url: an already running gateway to load (never started or stopped); null: the bench starts its servers. */
  url: string | null;
  /** --secret: HS256 secret of the --url gateway, to sign a token per user. */
  secret: string | null;
  /** --token-file: one token per line (one per connection) for the --url gateway. */
  tokenFile: string | null;
  /** --pid: the --url gateway's process id on this machine, for its CPU and RSS. */
  pid: number | null;
  /** soak: how long to send (ms; default 10 minutes). */
  soakMs: number;
  /** soak: direct messages/s over all pairs (default 2,000). */
  soakRate: number;
  quick: boolean;
  help: boolean;
}

export const USAGE = `Usage: npm run bench -- [options]
  --scenario LIST      connect,fanout,room,direct,http,cluster,soak (default: all but soak)
  --targets LIST       gateway,raw-uws,ws-hub,socketio (default: all)
  --connections N      connections per scenario (default 10000; quick 1000)
  --max-connections N  connect: connections held by one process (default 19000; quick 2000)
  --cluster-connections N  cluster: total over 3 nodes (default 24000; quick 1500)
  --duration D         length of one load step, e.g. 5s, 1500ms (default 5s; quick 1.5s)
  --steps N            most load steps (default 6; quick 2)
  --rates LIST         publish rates per publisher in msg/s, one per step (default 5,10,20,... doubling)
  --direct-rates LIST  direct msg/s over all pairs together, one per step (default 500,2000,10000,50000; quick 500)
  --groups N           fanout groups (default 10)
  --pairs N            direct active pairs (default connections/10, at most 1000)
  --size BYTES         size of a sent frame (default 100)
  --workers N          generator processes (default: from the connection count)
  --out DIR            results directory (default bench/results)
  --gateway FILE       gateway entry script (default dist/main.js)
  --quick              smoke-check sizes
  --soak               run the soak alone: direct messages at --soak-rate with --connections open for
                       --duration (here the soak's length, default 10m), gateway RSS sampled every 10 s
  --soak-duration D    soak length when soak runs beside other scenarios (default 10m)
  --soak-rate N        soak: direct msg/s over all pairs (default 2000)
  --url ws://H:P/PATH  load an already running gateway: never started or stopped by the bench;
                       only scenarios that need no restart run (peers, http and cluster are skipped)
  --secret S           --url: the gateway's HS256 secret (the bench signs a token per user u<idx>)
  --token-file F       --url: tokens, one per line, one per connection (users from their "sub")
  --pid N              --url: the gateway's process id on this machine (server CPU and RSS; else n/a)
  --help`;

function int(name: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
  return n;
}

export function duration(name: string, v: string, maxMs = 600_000): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) throw new Error(`${name} must be a duration like 5s, 1500ms or 1m, got ${JSON.stringify(v)}`);
  const n = Number(m[1]) * (m[2] === 'h' ? 3_600_000 : m[2] === 'm' ? 60_000 : m[2] === 'ms' ? 1 : 1000);
  if (n < 200 || n > maxMs) throw new Error(`${name} must be between 200ms and ${maxMs / 60_000}m, got ${v}`);
  return n;
}

function list<T extends string>(name: string, v: string, allowed: readonly T[]): T[] {
  const items = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new Error(`${name} needs at least one of ${allowed.join(', ')}`);
  for (const it of items) {
    if (!(allowed as readonly string[]).includes(it)) throw new Error(`${name}: unknown ${JSON.stringify(it)} (choose from ${allowed.join(', ')})`);
  }
  return [...new Set(items)] as T[];
}

function numbers(name: string, v: string): number[] {
  const items = v.split(',').map((s) => Number(s.trim()));
  if (items.length === 0 || items.some((n) => !Number.isFinite(n) || n <= 0 || n > 100_000)) {
    throw new Error(`${name} must be a list of rates in (0, 100000], got ${JSON.stringify(v)}`);
  }
  return items;
}

export function parseArgs(argv: string[], defaultOut: string): BenchOptions {
  const given = new Map<string, string>();
  let quick = false;
  let help = false;
  let soak = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') quick = true;
    else if (a === '--soak') soak = true;
    else if (a === '--help' || a === '-h') help = true;
    else if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const key = eq > 0 ? a.slice(2, eq) : a.slice(2);
      const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new Error(`--${key} needs a value`);
      given.set(key === 'scenarios' ? 'scenario' : key, value);
    } else throw new Error(`unexpected argument ${JSON.stringify(a)}\n${USAGE}`);
  }
  const known = ['scenario', 'targets', 'connections', 'max-connections', 'cluster-connections', 'duration', 'steps', 'rates',
    'direct-rates', 'groups', 'pairs', 'size', 'workers', 'out', 'gateway', 'url', 'secret', 'token-file', 'pid', 'soak-duration', 'soak-rate'];
  for (const k of given.keys()) if (!known.includes(k)) throw new Error(`unknown option --${k}\n${USAGE}`);
  const g = (k: string) => given.get(k);
  if (soak && g('scenario')) throw new Error('--soak runs the soak alone: leave out --scenario (or use --scenario ...,soak)');
  if (!g('url') && (g('secret') || g('token-file') || g('pid'))) throw new Error('--secret, --token-file and --pid go with --url');
  if (g('url') && g('gateway')) throw new Error('--gateway names a build to start; --url a gateway already running: not both');
  const soakLength = soak && g('duration') ? g('duration')! : g('soak-duration');

  const connections = g('connections') ? int('--connections', g('connections')!, 2, 30_000) : quick ? 1000 : 10_000;
  const maxConnections = g('max-connections')
    ? int('--max-connections', g('max-connections')!, 2, 30_000)
    : Math.max(connections, quick ? 2000 : 19_000);
  const groups = g('groups') ? int('--groups', g('groups')!, 1, 1000) : 10;
  if (groups > connections) throw new Error(`--groups (${groups}) cannot exceed --connections (${connections})`);
  const pairs = g('pairs') ? int('--pairs', g('pairs')!, 1, 15_000) : Math.max(1, Math.min(1000, Math.floor(connections / 10)));
  if (pairs * 2 > connections) throw new Error(`--pairs (${pairs}) needs 2 connections each, more than --connections (${connections})`);
  return {
    scenarios: soak ? ['soak'] : g('scenario') ? list('--scenario', g('scenario')!, SCENARIOS) : [...DEFAULT_SCENARIOS],
    // Against --url only the gateway runs; peers asked for explicitly are reported as skipped.
    targets: g('targets') ? list('--targets', g('targets')!, TARGETS) : g('url') ? ['gateway'] : [...TARGETS],
    connections,
    maxConnections,
    clusterConnections: g('cluster-connections') ? int('--cluster-connections', g('cluster-connections')!, 3, 60_000) : quick ? 1500 : 24_000,
    stepMs: g('duration') && !soak ? duration('--duration', g('duration')!) : quick ? 1500 : 5000,
    steps: g('steps') ? int('--steps', g('steps')!, 1, 20) : quick ? 2 : 6,
    rates: g('rates') ? numbers('--rates', g('rates')!) : null,
    directRates: g('direct-rates') ? numbers('--direct-rates', g('direct-rates')!) : quick ? [500] : [500, 2000, 10_000, 50_000],
    groups,
    pairs,
    size: g('size') ? int('--size', g('size')!, 40, 60_000) : 100,
    workers: g('workers') ? int('--workers', g('workers')!, 1, 16) : 0,
    outDir: g('out') ?? defaultOut,
    gateway: g('gateway') ?? null,
    url: g('url') ?? null,
    secret: g('secret') ?? null,
    tokenFile: g('token-file') ?? null,
    pid: g('pid') ? int('--pid', g('pid')!, 1, 2 ** 31 - 1) : null,
    soakMs: soakLength ? duration(soak && g('duration') ? '--duration' : '--soak-duration', soakLength, 24 * 3_600_000) : 600_000,
    soakRate: g('soak-rate') ? numbers('--soak-rate', g('soak-rate')!)[0]! : 2000,
    quick,
    help,
  };
}

/** Publish rate per publisher at each step: the explicit list, or `base` doubling `steps` times. */
export function stepRates(opts: BenchOptions, base: number): number[] {
  if (opts.rates) return opts.rates.slice(0, opts.steps);
  // A smoke check starts higher so its two short steps still carry real load.
  if (opts.quick) base *= 4;
  return Array.from({ length: opts.steps }, (_, i) => base * 2 ** i);
}

/** `direct` rates with figures of their own: the first two steps (the 500 and 2,000 msg/s). */
export function quotedRates(opts: BenchOptions): number[] {
  return opts.directRates.slice(0, Math.max(1, Math.min(2, opts.steps)));
}

/** Key of a per-rate figure, e.g. `rtt_p99_ms@500`. */
export const at = (key: string, rate: number): string => `${key}@${rate}`;
