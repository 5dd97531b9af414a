/**
 * A generator process. The runner forks several (see lib/pool.ts) so that clients are
 * spread over processes (each may hold at most ~20k open files) and loopback source
 * addresses. A worker owns a slice of the connections, indexed by a global connection
 * index `idx` (user `u<idx>`), and obeys RPC requests from the runner over IPC:
 * open, join, ping, publish, direct, reset, stats, close. Every loop it runs is bounded
 * by a count and a duration and ends by itself.
 */
import { WsConn, type FrameSink } from './wsclient.js';
import { InboxAcks } from './inbox-acks.js';
import { codecFor, padFor, type Codec, type Control } from './codec.js';
import { Histogram, type HistSnapshot } from '../lib/hist.js';
import { makeClock, parseBase, type Clock } from '../lib/clock.js';
import { benchToken } from '../lib/jwt.js';
import { assertLoopback } from '../lib/net.js';
import type { WorkerInit, WorkerStats, OpenResult, ReplyWait, LoadResult } from './protocol.js';

let codec: Codec;
let clock: Clock;
let init: WorkerInit;
const conns = new Map<number, WsConn>();

// ---- counters ------------------------------------------------------------------
let everOpened = 0;
let dropped = 0;
const dropReasons = new Map<string, number>();
let delivered = 0;
let stepDelivered = 0;
/** Step deliveries by the server node the receiving connection is on (idx % ports). */
let stepByNode: number[] = [];
let lastDeliveryAt = 0;
const hist = new Histogram();
const replyHist = new Histogram();
let repliesOk = 0;
const replyErrors = new Map<string, number>();
const errorFrames = new Map<string, number>();
const others = new Map<string, number>();
let decodeDeliveries = false;

const waiters = new Map<string, (c: Control | null) => void>();
const sioWaiters = new Map<WsConn, () => void>();
/** Recipients acknowledge their inbox as the SDK's receiver does (see InboxAcks). */
const inboxAcks = new InboxAcks<WsConn>(sendInboxAck);

function bump(m: Map<string, number>, key: string, n = 1): void {
  m.set(key, (m.get(key) ?? 0) + n);
}

function shortReason(r: string): string {
  return r.length > 120 ? r.slice(0, 117) + '...' : r;
}

const sink: FrameSink = {
  onFrame(conn, _opcode, buf, start, end) {
    const stamp = codec.stamp(conn, buf, start, end);
    if (stamp === stamp) {
      const now = clock();
      delivered++;
      stepDelivered++;
      stepByNode[conn.idx % stepByNode.length]!++;
      lastDeliveryAt = now;
      hist.record(now - stamp);
      if (decodeDeliveries) {
        const c = codec.decode(buf, start, end);
        if (c.kind === 'delivery' && c.seq !== undefined && c.seq > conn.seq) {
          conn.seq = c.seq;
          inboxAcks.received(conn);
        }
      }
      return;
    }
    const c = codec.decode(buf, start, end);
    switch (c.kind) {
      case 'reply': {
        const w = waiters.get(c.id);
        if (w) {
          waiters.delete(c.id);
          w(c);
        } else if (c.id.startsWith('s')) {
          if (c.ok) {
            repliesOk++;
            replyHist.record(clock() - Number(c.id.slice(1)));
          } else bump(replyErrors, `${c.code}: ${c.message}`);
        }
        return;
      }
      case 'error':
        bump(errorFrames, `${c.code}: ${shortReason(c.message)}`);
        return;
      case 'sio-connected':
        sioWaiters.get(conn)?.();
        return;
      case 'eio-ping': {
        const r = codec.heartbeatReply();
        if (r) conn.send(codec.opcode, r);
        return;
      }
      case 'delivery':
        // A delivery without a readable stamp: count it, it is not ours to time.
        bump(others, 'delivery without stamp');
        return;
      case 'other':
        bump(others, c.type);
        return;
    }
  },
  onClose(conn, reason) {
    if (conns.get(conn.idx) === conn) conns.delete(conn.idx);
    inboxAcks.forget(conn);
    if (conn.opened && reason !== 'closed by generator') {
      dropped++;
      bump(dropReasons, shortReason(reason));
    }
  },
};

function sendInboxAck(conn: WsConn): void {
  const frame = codec.inboxAck(conn.seq);
  if (!frame) return;
  conn.ackedSeq = conn.seq;
  conn.send(codec.opcode, frame);
}

/** Sends `frame` and waits for the reply carrying `id`; null on timeout or close. */
function request(conn: WsConn, id: string, frame: Buffer, timeoutMs: number): Promise<Control | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      waiters.delete(id);
      resolve(null);
    }, timeoutMs);
    waiters.set(id, (c) => {
      clearTimeout(timer);
      resolve(c);
    });
    conn.send(codec.opcode, frame);
  });
}

/** The user of connection `idx`: the `sub` of its token from --token-file, else `u<idx>`. */
function userOf(idx: number): string {
  if (!init.users) return `u${idx}`;
  const u = init.users[idx];
  if (u === undefined) throw new Error(`no token for connection ${idx} (--token-file has ${init.users.length})`);
  return u;
}

async function openOne(idx: number, timeoutMs: number): Promise<string | null> {
  const port = init.ports[idx % init.ports.length]!;
  const user = userOf(idx);
  const token = init.tokens ? init.tokens[idx] : init.secret ? benchToken(init.secret, user) : undefined;
  const conn = new WsConn(
    { host: init.host, port, path: codec.upgradePath(init.path, user, token), localAddress: init.localAddress, protocol: codec.protocol },
    sink,
  );
  conn.idx = idx;
  try {
    await conn.opening(timeoutMs);
    const hello = codec.connectFrame(user);
    if (hello) {
      const ok = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        sioWaiters.set(conn, () => {
          clearTimeout(timer);
          resolve(true);
        });
        conn.send(codec.opcode, hello);
      });
      sioWaiters.delete(conn);
      if (!ok) throw new Error('no socket.io CONNECT answer');
    }
  } catch (err) {
    conn.destroy();
    return shortReason((err as Error).message);
  }
  if (!conn.isOpen) return 'closed right after opening';
  conns.set(idx, conn);
  everOpened++;
  return null;
}

async function open(args: { idxs: number[]; concurrency: number; timeoutMs: number }): Promise<OpenResult> {
  const t0 = clock();
  const reasons = new Map<string, number>();
  let next = 0;
  let failed = 0;
  const lane = async () => {
    while (next < args.idxs.length) {
      const idx = args.idxs[next++]!;
      const r = await openOne(idx, args.timeoutMs);
      if (r) {
        failed++;
        bump(reasons, r);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, args.concurrency) }, lane));
  return { opened: args.idxs.length - failed, failed, reasons: Object.fromEntries(reasons), ms: clock() - t0 };
}

/** Sends one request per item and waits for every reply; counts failures by reason. */
async function requestAll(items: Array<{ idx: number; id: string; frame: Buffer }>, timeoutMs: number): Promise<ReplyWait> {
  const reasons = new Map<string, number>();
  const failedIdx: number[] = [];
  const failed = (idx: number, reason: string) => {
    bump(reasons, reason);
    if (failedIdx.length < 1000) failedIdx.push(idx);
  };
  let ok = 0;
  const pending: Array<Promise<void>> = [];
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    const conn = conns.get(it.idx);
    if (!conn) {
      failed(it.idx, 'connection not open');
      continue;
    }
    pending.push(
      request(conn, it.id, it.frame, timeoutMs).then((c) => {
        if (c && c.kind === 'reply' && c.ok) ok++;
        else failed(it.idx, c && c.kind === 'reply' ? `${c.code}: ${c.message}` : `no reply within ${timeoutMs} ms`);
      }),
    );
    // Let replies flow while thousands of requests go out.
    if (i % 500 === 499) await new Promise((r) => setImmediate(r));
  }
  await Promise.all(pending);
  return { ok, failed: items.length - ok, reasons: Object.fromEntries(reasons), failedIdx };
}

function join(args: { items: Array<[number, string]>; timeoutMs: number }): Promise<ReplyWait> {
  return requestAll(args.items.map(([idx, group]) => ({ idx, id: `j${idx}`, frame: codec.join(`j${idx}`, group) })), args.timeoutMs);
}

function ping(args: { timeoutMs: number }): Promise<ReplyWait> {
  return requestAll([...conns.keys()].map((idx) => ({ idx, id: `p${idx}`, frame: codec.ping(`p${idx}`) })), args.timeoutMs);
}

/**
 * Sends from each source at `rate` messages/s for `durationMs`, paced by a 2 ms timer
 * (sources are phase-shifted by i/sources of a period so they do not all fire at once).
 * Bounded: source i sends floor(rate × duration + i/sources) messages, then it stops —
 * so a fractional rate per source (an aggregate rate spread over many pairs) adds up to
 * the aggregate exactly, not rounded up per source.
 */
function paced(
  sources: number,
  rate: number,
  durationMs: number,
  sendOne: (i: number) => boolean,
): Promise<LoadResult> {
  const total = (rate * durationMs) / 1000;
  // The epsilon keeps an integer total from losing one to floating-point error.
  const quota = Array.from({ length: sources }, (_, i) => Math.floor(total + i / sources + 1e-9));
  const attempted = new Array<number>(sources).fill(0);
  const sent = new Array<number>(sources).fill(0);
  const t0 = clock();
  return new Promise((resolve) => {
    const tick = () => {
      const el = Math.min(clock() - t0, durationMs);
      const done = el >= durationMs;
      for (let i = 0; i < sources; i++) {
        const due = done ? quota[i]! : Math.min(quota[i]!, Math.floor((rate * el) / 1000 + i / sources));
        while (attempted[i]! < due) {
          attempted[i]!++;
          if (sendOne(i)) sent[i]!++;
        }
      }
      if (done) {
        clearInterval(timer);
        resolve({ sent, ms: clock() - t0 });
      }
    };
    const timer = setInterval(tick, 2);
    tick();
  });
}

function publish(args: { pubs: Array<[number, string]>; rate: number; durationMs: number; size: number }): Promise<LoadResult> {
  const pads = args.pubs.map(([, group]) => 'x'.repeat(padFor(codec, args.size, group)));
  return paced(args.pubs.length, args.rate, args.durationMs, (i) => {
    const [idx, group] = args.pubs[i]!;
    const conn = conns.get(idx);
    if (!conn) return false;
    const bt = clock();
    conn.send(codec.opcode, codec.group(`s${bt.toFixed(3)}`, group, { bt, pad: pads[i]! }));
    return true;
  });
}

function direct(args: { pairs: Array<[number, number]>; rate: number; durationMs: number; size: number }): Promise<LoadResult> {
  const pad = 'x'.repeat(padFor(codec, args.size, 'u0000'));
  return paced(args.pairs.length, args.rate, args.durationMs, (i) => {
    const [from, to] = args.pairs[i]!;
    const conn = conns.get(from);
    if (!conn) return false;
    const bt = clock();
    conn.send(codec.opcode, codec.direct(`s${bt.toFixed(3)}`, userOf(to), { bt, pad }));
    return true;
  });
}

function stats(args: { hist?: boolean }): WorkerStats {
  const snap = (h: Histogram): HistSnapshot | null => (args.hist ? h.snapshot() : null);
  return {
    open: conns.size,
    everOpened,
    dropped,
    dropReasons: Object.fromEntries(dropReasons),
    delivered,
    stepDelivered,
    stepByNode: stepByNode.slice(),
    lastDeliveryAt,
    hist: snap(hist),
    replyHist: snap(replyHist),
    repliesOk,
    replyErrors: Object.fromEntries(replyErrors),
    errorFrames: Object.fromEntries(errorFrames),
    others: Object.fromEntries(others),
  };
}

function reset(): null {
  stepDelivered = 0;
  stepByNode.fill(0);
  lastDeliveryAt = 0;
  hist.reset();
  replyHist.reset();
  repliesOk = 0;
  replyErrors.clear();
  return null;
}

function closeAll(): number {
  const n = conns.size;
  for (const c of [...conns.values()]) c.destroy();
  return n;
}

function setup(args: WorkerInit): null {
  // Only a host the user named with --url may be off loopback.
  if (!args.remoteHost) assertLoopback(args.host);
  if (args.localAddress) assertLoopback(args.localAddress);
  init = args;
  codec = codecFor(args.codec);
  clock = makeClock(parseBase(args.clockBase));
  decodeDeliveries = args.decodeDeliveries;
  stepByNode = new Array<number>(args.ports.length).fill(0);
  return null;
}

const ops: Record<string, (args: never) => unknown> = { setup, open, join, ping, publish, direct, stats, reset, closeAll };

process.on('message', (m: { rid: number; op: string; args: unknown }) => {
  const fn = ops[m.op];
  Promise.resolve()
    .then(() => {
      if (!fn) throw new Error(`unknown op ${m.op}`);
      return (fn as (a: unknown) => unknown)(m.args);
    })
    .then(
      (result) => process.send!({ rid: m.rid, ok: true, result }),
      (err: Error) => process.send!({ rid: m.rid, ok: false, error: err.stack ?? err.message }),
    );
});
// The runner is gone: nothing left to do.
process.on('disconnect', () => process.exit(0));
