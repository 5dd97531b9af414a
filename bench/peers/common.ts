/**
 * What every peer shares: its listen address (from PORT and HOST), message ids, and the
 * frame shapes. Peers answer the same minimal protocol as the gateway so the generator
 * treats them alike:
 *   join {group}              → ack {status:"ok"}
 *   group {group, content}    → every member (sender included) gets group {mid, from, group, content, timestamp}; sender gets ack
 *   message {to, content}     → recipient gets message {mid, from, to, content, timestamp, seq}; sender gets ack {mid, status:"delivered"}
 *   ping                      → pong
 *   ack {upTo}                → ignored (peers keep no inbox)
 * A peer has no auth: the user id comes from `?user=` (or the Socket.IO CONNECT payload).
 */
export interface PeerEnv {
  host: string;
  port: number;
}

export function peerEnv(): PeerEnv {
  const port = Number(process.env.PORT);
  const host = process.env.HOST ?? '127.0.0.1';
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`PORT must be a TCP port, got ${process.env.PORT}`);
  if (!host.startsWith('127.')) throw new Error(`peers listen on loopback only, got HOST=${host}`);
  return { host, port };
}

let midCounter = 0;
const midPrefix = process.pid.toString(36).padStart(6, '0');

/** A unique message id of fixed length (22 characters, like a typical random id). */
export function nextMid(): string {
  return midPrefix + (++midCounter).toString(36).padStart(16, '0');
}

const seqs = new Map<string, number>();

/** Per-recipient sequence number, as the gateway's inbox assigns. */
export function nextSeq(user: string): number {
  const s = (seqs.get(user) ?? 0) + 1;
  seqs.set(user, s);
  return s;
}

export type Envelope = { type: string; id?: string; data?: Record<string, unknown> };

/** The envelope if `v` is one, else null (the peer answers with an error frame). */
export function asEnvelope(v: unknown): Envelope | null {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  const e = v as Record<string, unknown>;
  if (typeof e.type !== 'string') return null;
  if (e.data !== undefined && (e.data === null || typeof e.data !== 'object')) return null;
  return e as Envelope;
}

export function groupOut(from: string, group: string, content: unknown) {
  return { type: 'group', data: { mid: nextMid(), from, group, content, timestamp: Date.now() } };
}

export function messageOut(from: string, to: string, content: unknown) {
  return { type: 'message', data: { mid: nextMid(), from, to, content, timestamp: Date.now(), seq: nextSeq(to) } };
}

export function ackOut(id: string | undefined, data: Record<string, unknown>) {
  return { type: 'ack', id, data: { ...data, timestamp: Date.now() } };
}

export function errorOut(id: string | undefined, code: string, message: string) {
  return { type: 'error', id, data: { code, message } };
}

/** Exit cleanly on SIGTERM/SIGINT so the runner sees a normal stop. */
export function exitOnSignals(close: () => void): void {
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      close();
      process.exit(0);
    });
  }
}
