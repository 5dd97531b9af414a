/**
 * The servers a scenario can run against: the gateway and its three peers. Each target
 * says which wire protocol the generator speaks to it and how to start it on a free
 * loopback port. Every server runs as its own process, started fresh per scenario.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExternalServer, ServerProcess, type ServerHandle } from './server-proc.js';
import { freePort } from './net.js';
import type { CodecName } from '../gen/codec.js';

export const TARGETS = ['gateway', 'raw-uws', 'ws-hub', 'socketio'] as const;
export type TargetName = (typeof TARGETS)[number];
export const PEERS = TARGETS.filter((t) => t !== 'gateway');

export const HOST = '127.0.0.1';

export interface Running {
  server: ServerHandle;
  port: number;
  /** Removes what the start left on disk (offline store, config). */
  cleanup(): void;
}

export interface Target {
  name: TargetName;
  codec: CodecName;
  /** True when clients authenticate with a JWT (the gateway); peers take `?user=`. */
  jwt: boolean;
  /** Starts one server; `env` adds to (or overrides) the target's own environment. */
  start(ctx: StartContext, env?: Record<string, string>): Promise<Running>;
}

export interface StartContext {
  /** Repository root (where dist/ and node_modules/ are). */
  root: string;
  buildDir: string;
  secret: string;
  /** The gateway's entry script (dist/main.js unless --gateway says otherwise). */
  gatewayEntry: string;
}

/** Environment of a gateway process, as its contract documents (limits raised far above the bench's load). */
export function gatewayEnv(port: number, secret: string, offlinePath: string): Record<string, string> {
  return {
    SWITCHBOARD_PORT: String(port),
    SWITCHBOARD_HOST: HOST,
    SWITCHBOARD_AUTH__SECRET: secret,
    SWITCHBOARD_MAXCONN: '30000',
    SWITCHBOARD_LIMITS__MAXCONNPERIP: '30000',
    SWITCHBOARD_LIMITS__UPGRADESPERSECONDPERIP: '100000',
    SWITCHBOARD_LIMITS__RATELIMIT__MESSAGESPERSECOND: '100000',
    SWITCHBOARD_LIMITS__RATELIMIT__BURST: '100000',
    SWITCHBOARD_LOG__LEVEL: 'warn',
    SWITCHBOARD_OFFLINE__PATH: offlinePath,
  };
}

/** The environment children get: ours, minus loaders a test runner may have put in NODE_OPTIONS. */
export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.NODE_OPTIONS;
  return env;
}

/**
 * How `npm start` runs the gateway (package.json `scripts.start`,
 * `[VAR=value ...] exec node [flags] dist/main.js`): its environment assignments and
 * node flags, so the bench measures the gateway as it is started (heap and allocator
 * settings included). Throws when the script no longer has that shape, so a change
 * there cannot silently leave the bench measuring something else.
 */
export function startCommand(root: string): { env: Record<string, string>; flags: string[] } {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts?: { start?: unknown } };
  const script = pkg.scripts?.start;
  const match = typeof script === 'string'
    ? /^((?:[A-Z_][A-Z0-9_]*=\S*\s+)*)(?:exec\s+)?node((?:\s+--?[\w-]+(?:=\S+)?)*)\s+dist\/main\.js$/.exec(script.trim())
    : null;
  if (match === null) throw new Error(`bench: package.json scripts.start is not "[VAR=value ...] exec node [flags] dist/main.js": ${JSON.stringify(script)}`);
  const words = (text: string): string[] => text.trim().split(/\s+/).filter((word) => word !== '');
  const env: Record<string, string> = {};
  for (const assignment of words(match[1]!)) {
    const eq = assignment.indexOf('=');
    env[assignment.slice(0, eq)] = assignment.slice(eq + 1);
  }
  return { env, flags: words(match[2]!) };
}

export function defaultGatewayEntry(root: string): string {
  return join(root, 'dist', 'main.js');
}

const gateway: Target = {
  name: 'gateway',
  codec: 'msgpack',
  jwt: true,
  async start(ctx, env = {}) {
    const entry = ctx.gatewayEntry;
    const missing = gatewayMissing(entry);
    if (missing) throw new Error(missing);
    const start = startCommand(ctx.root);
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'sb-bench-'));
    const config = join(dir, 'bench.yaml');
    // Everything the bench sets goes through environment overrides; the file only names the service.
    writeFileSync(config, '# written by the bench; settings come from SWITCHBOARD_* variables\nName: switchboard-bench\n');
    const cleanup = () => rmSync(dir, { recursive: true, force: true });
    try {
      const server = await ServerProcess.start({
        name: 'gateway',
        command: process.execPath,
        args: [...start.flags, entry, '--config', config],
        cwd: ctx.root,
        env: childEnv({ ...start.env, ...gatewayEnv(port, ctx.secret, join(dir, 'offline')), ...env }),
        healthUrl: `http://${HOST}:${port}/healthz`,
      });
      return { server, port, cleanup };
    } catch (err) {
      cleanup();
      throw err;
    }
  },
};

function peer(name: Exclude<TargetName, 'gateway'>, codec: CodecName): Target {
  return {
    name,
    codec,
    jwt: false,
    async start(ctx, env = {}) {
      const port = await freePort();
      const server = await ServerProcess.start({
        name,
        command: process.execPath,
        args: [join(ctx.buildDir, 'peers', `${name}.js`)],
        cwd: ctx.root,
        env: childEnv({ PORT: String(port), HOST, ...env }),
        healthUrl: `http://${HOST}:${port}/healthz`,
      });
      return { server, port, cleanup: () => undefined };
    },
  };
}

const ALL: Record<TargetName, Target> = {
  gateway,
  'raw-uws': peer('raw-uws', 'msgpack'),
  'ws-hub': peer('ws-hub', 'msgpack'),
  socketio: peer('socketio', 'socketio'),
};

export function target(name: TargetName): Target {
  return ALL[name];
}

/** Why the gateway cannot run, or null when its entry script exists. */
export function gatewayMissing(entry: string): string | null {
  return existsSync(entry) ? null : `gateway not built (${entry} is missing: run npm run build)`;
}

/**
 * A gateway the bench is pointed at with --url: already running, maybe elsewhere. The
 * bench connects to it and never starts, signals or stops it.
 */
export interface Remote {
  url: string;
  host: string;
  port: number;
  /** The WebSocket path, with any query the URL carried (e.g. `/ws`). */
  path: string;
  /** Its process id on this machine (--pid), for server CPU and RSS; null: those are n/a. */
  pid: number | null;
  /** HS256 secret to sign a token per user (--secret), or null when tokens come from --token-file. */
  secret: string | null;
  /** One token per connection index (--token-file), or null. */
  tokens: string[] | null;
  /** The user (`sub`) of each token, same order; null: users are u<idx>. */
  users: string[] | null;
}

/** The gateway at --url as a target: "starting" it only hands back a handle that never stops it. */
export function remoteTarget(remote: Remote): Target {
  return {
    name: 'gateway',
    codec: 'msgpack',
    jwt: true,
    async start() {
      return { server: new ExternalServer(`gateway at ${remote.url}`, remote.pid), port: remote.port, cleanup: () => undefined };
    },
  };
}
