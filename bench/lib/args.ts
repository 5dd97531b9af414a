/**
 * Command-line options of `npm run bench`. Sizes default to the full-size run;
 * `--quick` shrinks them to a smoke check (< 2 minutes for everything) and explicit
 * options still win over it. Bad input is an error that names the option.
 */
import { TARGETS, type TargetName } from './targets.js';

export const SCENARIOS = ['connect', 'fanout', 'room', 'direct', 'http', 'cluster'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

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
  /** Direct-message rate per active pair (messages/s), one per step. */
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
  quick: boolean;
  help: boolean;
}

export const USAGE = `Usage: npm run bench -- [options]
  --scenario LIST      connect,fanout,room,direct,http,cluster (default: all)
  --targets LIST       gateway,raw-uws,ws-hub,socketio (default: all)
  --connections N      connections per scenario (default 10000; quick 1000)
  --max-connections N  connect: connections held by one process (default 19000; quick 2000)
  --cluster-connections N  cluster: total over 3 nodes (default 24000; quick 1500)
  --duration D         length of one load step, e.g. 5s, 1500ms (default 5s; quick 1.5s)
  --steps N            most load steps (default 6; quick 2)
  --rates LIST         publish rates per publisher in msg/s, one per step (default 5,10,20,... doubling)
  --direct-rates LIST  direct rates per pair in msg/s (default 2,10,50; quick 5)
  --groups N           fanout groups (default 10)
  --pairs N            direct active pairs (default connections/10, at most 1000)
  --size BYTES         size of a sent frame (default 100)
  --workers N          generator processes (default: from the connection count)
  --out DIR            results directory (default bench/results)
  --gateway FILE       gateway entry script (default dist/main.js)
  --quick              smoke-check sizes
  --help`;

function int(name: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
  return n;
}

export function duration(name: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v.trim());
  if (!m) throw new Error(`${name} must be a duration like 5s, 1500ms or 1m, got ${JSON.stringify(v)}`);
  const n = Number(m[1]) * (m[2] === 'm' ? 60_000 : m[2] === 'ms' ? 1 : 1000);
  if (n < 200 || n > 600_000) throw new Error(`${name} must be between 200ms and 10m, got ${v}`);
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
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') quick = true;
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
    'direct-rates', 'groups', 'pairs', 'size', 'workers', 'out', 'gateway'];
  for (const k of given.keys()) if (!known.includes(k)) throw new Error(`unknown option --${k}\n${USAGE}`);
  const g = (k: string) => given.get(k);

  const connections = g('connections') ? int('--connections', g('connections')!, 2, 30_000) : quick ? 1000 : 10_000;
  const maxConnections = g('max-connections')
    ? int('--max-connections', g('max-connections')!, 2, 30_000)
    : Math.max(connections, quick ? 2000 : 19_000);
  const groups = g('groups') ? int('--groups', g('groups')!, 1, 1000) : 10;
  if (groups > connections) throw new Error(`--groups (${groups}) cannot exceed --connections (${connections})`);
  const pairs = g('pairs') ? int('--pairs', g('pairs')!, 1, 15_000) : Math.max(1, Math.min(1000, Math.floor(connections / 10)));
  if (pairs * 2 > connections) throw new Error(`--pairs (${pairs}) needs 2 connections each, more than --connections (${connections})`);
  return {
    scenarios: g('scenario') ? list('--scenario', g('scenario')!, SCENARIOS) : [...SCENARIOS],
    targets: g('targets') ? list('--targets', g('targets')!, TARGETS) : [...TARGETS],
    connections,
    maxConnections,
    clusterConnections: g('cluster-connections') ? int('--cluster-connections', g('cluster-connections')!, 3, 60_000) : quick ? 1500 : 24_000,
    stepMs: g('duration') ? duration('--duration', g('duration')!) : quick ? 1500 : 5000,
    steps: g('steps') ? int('--steps', g('steps')!, 1, 20) : quick ? 2 : 6,
    rates: g('rates') ? numbers('--rates', g('rates')!) : null,
    directRates: g('direct-rates') ? numbers('--direct-rates', g('direct-rates')!) : quick ? [5] : [2, 10, 50],
    groups,
    pairs,
    size: g('size') ? int('--size', g('size')!, 40, 60_000) : 100,
    workers: g('workers') ? int('--workers', g('workers')!, 1, 16) : 0,
    outDir: g('out') ?? defaultOut,
    gateway: g('gateway') ?? null,
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
