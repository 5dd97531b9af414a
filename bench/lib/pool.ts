/**
 * The generator: several worker processes (gen/worker.ts), each with its own loopback
 * source address, sharing the connections by index (idx → worker idx % n). Calls fan
 * out to every worker and the answers are added up. A worker that dies fails every
 * pending call with the tail of its stderr.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Histogram } from './hist.js';
import { nextSourceAddress } from './net.js';
import { totalCpuMicros } from './procstat.js';
import type { LoadResult, OpenResult, ReplyWait, WorkerInit, WorkerStats } from '../gen/protocol.js';

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

class Worker {
  readonly child: ChildProcess;
  private rid = 0;
  private pending = new Map<number, Pending>();
  private tail = '';
  dead: string | null = null;

  constructor(script: string, readonly n: number) {
    this.child = fork(script, [], { execArgv: [], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    this.child.stderr!.on('data', (c: Buffer) => {
      this.tail = (this.tail + c.toString('utf8')).slice(-2000);
    });
    this.child.on('message', (m: { rid: number; ok: boolean; result?: unknown; error?: string }) => {
      const p = this.pending.get(m.rid);
      if (!p) return;
      this.pending.delete(m.rid);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`generator ${this.n}: ${m.error}`));
    });
    this.child.on('exit', (code, signal) => {
      this.dead = `generator ${this.n} exited (${signal ?? `code ${code}`})${this.tail ? `: ${this.tail.trim()}` : ''}`;
      for (const p of this.pending.values()) p.reject(new Error(this.dead));
      this.pending.clear();
    });
  }

  call<T>(op: string, args: unknown): Promise<T> {
    if (this.dead) return Promise.reject(new Error(this.dead));
    return new Promise<T>((resolve, reject) => {
      const rid = ++this.rid;
      this.pending.set(rid, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ rid, op, args });
    });
  }

  async kill(): Promise<void> {
    if (this.dead) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGKILL');
    await gone;
  }
}

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

export interface PoolStats extends Omit<WorkerStats, 'hist' | 'replyHist'> {
  hist: Histogram;
  replyHist: Histogram;
}

export class Pool {
  private constructor(private readonly workers: Worker[]) {}

  /**
   * Forks `n` workers from the built generator and sets them up. Each gets a fresh
   * loopback source address, unless `bindSource` is false (a --url host off loopback,
   * which a 127.x source cannot reach).
   */
  static async start(buildDir: string, n: number, init: Omit<WorkerInit, 'localAddress'>, bindSource = true): Promise<Pool> {
    const script = join(buildDir, 'gen', 'worker.js');
    const pool = new Pool(Array.from({ length: n }, (_, i) => new Worker(script, i)));
    try {
      await Promise.all(pool.workers.map((w) => w.call('setup', { ...init, localAddress: bindSource ? nextSourceAddress() : undefined })));
    } catch (err) {
      await pool.stop();
      throw err;
    }
    return pool;
  }

  get size(): number {
    return this.workers.length;
  }

  get pids(): number[] {
    return this.workers.map((w) => w.child.pid).filter((p): p is number => p !== undefined);
  }

  cpuMicros(): number {
    return totalCpuMicros(this.pids);
  }

  /** CPU time of each generator process (µs), in worker order; an exited one reads 0. */
  cpuMicrosEach(): number[] {
    return this.pids.map((pid) => totalCpuMicros([pid]));
  }

  /** Splits items by the worker that owns their connection index. */
  private split<T>(items: readonly T[], idxOf: (t: T) => number): T[][] {
    const parts = this.workers.map(() => [] as T[]);
    for (const it of items) parts[idxOf(it) % this.workers.length]!.push(it);
    return parts;
  }

  async open(idxs: number[], concurrency: number, timeoutMs: number): Promise<OpenResult> {
    const parts = this.split(idxs, (i) => i);
    const per = Math.max(1, Math.ceil(concurrency / this.workers.length));
    const rs = await Promise.all(
      this.workers.map((w, i) => w.call<OpenResult>('open', { idxs: parts[i], concurrency: per, timeoutMs })),
    );
    const out: OpenResult = { opened: 0, failed: 0, reasons: {}, ms: 0 };
    for (const r of rs) {
      out.opened += r.opened;
      out.failed += r.failed;
      addCounts(out.reasons, r.reasons);
      out.ms = Math.max(out.ms, r.ms);
    }
    return out;
  }

  private async replies(op: string, parts: unknown[][] | null, extra: Record<string, unknown>): Promise<ReplyWait> {
    const rs = await Promise.all(
      this.workers.map((w, i) => w.call<ReplyWait>(op, parts ? { items: parts[i], ...extra } : extra)),
    );
    const out: ReplyWait = { ok: 0, failed: 0, reasons: {}, failedIdx: [] };
    for (const r of rs) {
      out.ok += r.ok;
      out.failed += r.failed;
      addCounts(out.reasons, r.reasons);
      out.failedIdx.push(...r.failedIdx);
    }
    return out;
  }

  /** Each connection joins its group and waits for the ack. */
  join(items: Array<[number, string]>, timeoutMs: number): Promise<ReplyWait> {
    return this.replies('join', this.split(items, (it) => it[0]), { timeoutMs });
  }

  /** Every open connection pings; ok counts the pongs (proof the connection is alive end to end). */
  ping(timeoutMs: number): Promise<ReplyWait> {
    return this.replies('ping', null, { timeoutMs });
  }

  /** Runs the paced sends of every worker at once; returns messages sent per source, in the order given. */
  private async load<T>(op: string, sources: T[], idxOf: (t: T) => number, args: Record<string, unknown>, key: string): Promise<LoadResult> {
    const order = sources.map((s, i) => ({ s, i }));
    const parts = this.split(order, (o) => idxOf(o.s));
    const rs = await Promise.all(
      this.workers.map((w, k) => w.call<LoadResult>(op, { ...args, [key]: parts[k]!.map((o) => o.s) })),
    );
    const sent = new Array<number>(sources.length).fill(0);
    let ms = 0;
    rs.forEach((r, k) => {
      parts[k]!.forEach((o, j) => (sent[o.i] = r.sent[j]!));
      ms = Math.max(ms, r.ms);
    });
    return { sent, ms };
  }

  publish(pubs: Array<[number, string]>, rate: number, durationMs: number, size: number): Promise<LoadResult> {
    return this.load('publish', pubs, (p) => p[0], { rate, durationMs, size }, 'pubs');
  }

  direct(pairs: Array<[number, number]>, rate: number, durationMs: number, size: number): Promise<LoadResult> {
    return this.load('direct', pairs, (p) => p[0], { rate, durationMs, size }, 'pairs');
  }

  async reset(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.call('reset', {})));
  }

  async stats(withHist = false): Promise<PoolStats> {
    const rs = await Promise.all(this.workers.map((w) => w.call<WorkerStats>('stats', { hist: withHist })));
    const out: PoolStats = {
      open: 0, everOpened: 0, dropped: 0, dropReasons: {}, delivered: 0, stepDelivered: 0, stepByNode: [], lastDeliveryAt: 0,
      hist: new Histogram(), replyHist: new Histogram(), repliesOk: 0, replyErrors: {}, errorFrames: {}, others: {},
    };
    for (const r of rs) {
      out.open += r.open;
      out.everOpened += r.everOpened;
      out.dropped += r.dropped;
      addCounts(out.dropReasons, r.dropReasons);
      out.delivered += r.delivered;
      out.stepDelivered += r.stepDelivered;
      r.stepByNode.forEach((v, i) => (out.stepByNode[i] = (out.stepByNode[i] ?? 0) + v));
      out.lastDeliveryAt = Math.max(out.lastDeliveryAt, r.lastDeliveryAt);
      if (r.hist) out.hist.merge(r.hist);
      if (r.replyHist) out.replyHist.merge(r.replyHist);
      out.repliesOk += r.repliesOk;
      addCounts(out.replyErrors, r.replyErrors);
      addCounts(out.errorFrames, r.errorFrames);
      addCounts(out.others, r.others);
    }
    return out;
  }

  /** Closes every connection (TCP reset) and ends the workers. Safe to call twice. */
  async stop(): Promise<void> {
    await Promise.all(
      this.workers.map(async (w) => {
        if (!w.dead) {
          // A worker that cannot close its connections is killed below all the same; say so.
          await w.call('closeAll', {}).catch((err: Error) => process.stderr.write(`generator ${w.n}: close failed: ${err.message}\n`));
        }
        await w.kill();
      }),
    );
  }
}
