/**
 * A server under test as a child process: started with its environment, ready when its
 * health URL answers 200, measured through /proc, stopped with SIGTERM (then SIGKILL).
 * The last lines of its output are kept so a crash or refusal can be reported plainly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpuMicros, memoryKB, rssKB, type MemoryKB } from './procstat.js';
import { waitForHttp200 } from './net.js';

export interface ServerSpec {
  /** Label for messages, e.g. `gateway` or `raw-uws`. */
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** URL that answers 200 once the server accepts connections (unused by startWithProbe). */
  healthUrl: string;
  readyTimeoutMs?: number;
}

/**
 * What a scenario may do with the server under test: read its CPU and memory, ask
 * whether it is still there, and stop it. cpuMicros and rssKB are null when the
 * process cannot be read (a server given by --url without --pid).
 */
export interface ServerHandle {
  readonly name: string;
  cpuMicros(): number | null;
  rssKB(): number | null;
  /** RSS with its private and file-backed parts; null like rssKB. */
  memoryKB(): MemoryKB | null;
  /** Null while running, else how it ended. */
  exitReason(): string | null;
  /** The last lines the process wrote ('' when the bench does not own it). */
  output(): string;
  /** Stops a server the bench started; a no-op for one it was given (see ExternalServer). */
  stop(): Promise<void>;
}

const TAIL_LINES = 40;
/** Servers still running, so an interrupted run can stop them (see killAll). */
const live = new Set<ServerProcess>();

export class ServerProcess implements ServerHandle {
  readonly name: string;
  private child: ChildProcess;
  private tail: string[] = [];
  private exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private exited: Promise<void>;

  private constructor(spec: ServerSpec) {
    this.name = spec.name;
    this.child = spawn(spec.command, spec.args, { cwd: spec.cwd, env: spec.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim()) this.tail.push(line.slice(0, 500));
      }
      if (this.tail.length > TAIL_LINES) this.tail.splice(0, this.tail.length - TAIL_LINES);
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    live.add(this);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        live.delete(this);
        this.exit = { code, signal };
        resolve();
      });
      this.child.once('error', (err) => {
        this.tail.push(`spawn error: ${err.message}`);
        this.exit = { code: -1, signal: null };
        resolve();
      });
    });
  }

  /** Starts the server and waits until it is ready; on failure the process is stopped and the error says why. */
  static async start(spec: ServerSpec): Promise<ServerProcess> {
    const p = new ServerProcess(spec);
    try {
      await waitForHttp200(spec.healthUrl, spec.readyTimeoutMs ?? 30_000, () =>
        p.exit ? `${spec.name} exited (${p.describeExit()}) before it was ready:\n${p.output()}` : null,
      );
    } catch (err) {
      await p.stop();
      throw err;
    }
    return p;
  }

  /** Like start, for servers without a health URL: ready when `probe()` returns true. */
  static async startWithProbe(spec: ServerSpec, probe: () => boolean): Promise<ServerProcess> {
    const p = new ServerProcess(spec);
    const deadline = Date.now() + (spec.readyTimeoutMs ?? 30_000);
    while (!probe()) {
      if (p.exit) throw new Error(`${spec.name} exited (${p.describeExit()}) before it was ready:\n${p.output()}`);
      if (Date.now() > deadline) {
        await p.stop();
        throw new Error(`${spec.name} not ready after ${spec.readyTimeoutMs ?? 30_000} ms:\n${p.output()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return p;
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.name} has no pid`);
    return this.child.pid;
  }

  /** Null while running, else how it ended. */
  exitReason(): string | null {
    return this.exit ? this.describeExit() : null;
  }

  private describeExit(): string {
    return this.exit?.signal ? `signal ${this.exit.signal}` : `code ${this.exit?.code}`;
  }

  /** The last lines the process wrote (stdout and stderr). */
  output(): string {
    return this.tail.join('\n');
  }

  cpuMicros(): number {
    return cpuMicros(this.pid);
  }

  rssKB(): number {
    return rssKB(this.pid);
  }

  memoryKB(): MemoryKB {
    return memoryKB(this.pid);
  }

  /** Kills every server still running (SIGKILL): for an interrupted run, which cannot wait. */
  static killAll(): void {
    for (const p of live) p.child.kill('SIGKILL');
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Resolves once the process is gone. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.exit) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (!this.exit) this.child.kill('SIGKILL');
    }, graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * A server the bench was pointed at (--url) and does not own: never started, signalled or
 * stopped by the bench — stop() does nothing. With a pid (--pid, same machine) its CPU
 * and RSS come from /proc like any other; without one they are null ("n/a" in reports).
 */
export class ExternalServer implements ServerHandle {
  constructor(readonly name: string, private readonly pid: number | null) {}

  cpuMicros(): number | null {
    return this.pid === null ? null : cpuMicros(this.pid);
  }

  rssKB(): number | null {
    return this.pid === null ? null : rssKB(this.pid);
  }

  memoryKB(): MemoryKB | null {
    return this.pid === null ? null : memoryKB(this.pid);
  }

  /** With a pid: whether /proc still lists it. Without one the bench cannot tell and says nothing. */
  exitReason(): string | null {
    if (this.pid === null) return null;
    return existsSync(`/proc/${this.pid}`) ? null : `process ${this.pid} is gone`;
  }

  output(): string {
    return '';
  }

  /** Deliberately nothing: the bench never stops a server it was given. */
  async stop(): Promise<void> {}
}
