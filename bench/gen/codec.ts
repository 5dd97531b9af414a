/**
 * What the generator writes and how it reads replies, per wire protocol:
 * - `msgpack`: the Switchboard envelope `{type, id?, data?}` as binary MessagePack frames,
 *   spoken by the gateway and by the raw-uws and ws-hub peers;
 * - `socketio`: Engine.IO 4 / Socket.IO 5 text frames with JSON payloads (Socket.IO's
 *   default parser), spoken by the socketio peer.
 *
 * Every message the bench sends carries `content: {bt, pad}`: `bt` is the send time on
 * the shared clock (ms), `pad` brings the frame to the requested size. A receiver finds
 * `bt` by peeking at the bytes (`stamp`) instead of decoding the frame: that is the hot
 * path, run once per delivered message. Everything else goes through `decode`.
 */
import { pack, unpack } from 'msgpackr';
import type { WsConn } from './wsclient.js';
import { OP_BINARY, OP_TEXT } from './wsclient.js';

export type CodecName = 'msgpack' | 'socketio';

export interface BenchContent {
  bt: number;
  pad: string;
}

/** A decoded control frame. `reply` answers a frame we sent with an id (ack, pong, or error with id). */
export type Control =
  | { kind: 'reply'; id: string; ok: boolean; status: string; code?: string; message?: string }
  | { kind: 'error'; code: string; message: string }
  | { kind: 'delivery'; stamp: number; from: string | undefined; seq: number | undefined }
  | { kind: 'sio-connected' }
  | { kind: 'eio-ping' }
  | { kind: 'other'; type: string };

export interface Codec {
  readonly name: CodecName;
  /** Opcode of every frame this codec sends. */
  readonly opcode: number;
  /** Sec-WebSocket-Protocol to offer, if any. */
  readonly protocol: string | undefined;
  /** Path and query of the upgrade; `base` is the server's WebSocket path (e.g. `/ws`, maybe with a query of its own). */
  upgradePath(base: string, user: string, token: string | undefined): string;
  /** Sent right after the upgrade; the connection counts as open only once it is answered (`sio-connected`). */
  connectFrame(user: string): Buffer | null;
  join(id: string, group: string): Buffer;
  group(id: string, group: string, content: BenchContent): Buffer;
  direct(id: string, to: string, content: BenchContent): Buffer;
  /** Cumulative inbox acknowledgement, or null when the protocol has none. */
  inboxAck(upTo: number): Buffer | null;
  ping(id: string): Buffer;
  /** The answer to an Engine.IO ping, for protocols that ping at the application level. */
  heartbeatReply(): Buffer | null;
  /** The `bt` stamp of a delivered message, or NaN when the frame carries none. Must not allocate. */
  stamp(conn: WsConn, buf: Buffer, start: number, end: number): number;
  decode(buf: Buffer, start: number, end: number): Control;
}

// ---- msgpack -------------------------------------------------------------------

/** fixstr "bt": the key of the stamp inside content. */
const MP0 = 0xa2;
const MP1 = 0x62;
const MP2 = 0x74;

function mpNumber(buf: Buffer, q: number, end: number): number {
  if (q >= end) return NaN;
  const t = buf[q]!;
  if (t === 0xcb) return q + 9 <= end ? buf.readDoubleBE(q + 1) : NaN;
  if (t < 0x80) return t;
  if (t === 0xca) return q + 5 <= end ? buf.readFloatBE(q + 1) : NaN;
  if (t === 0xcc) return q + 2 <= end ? buf[q + 1]! : NaN;
  if (t === 0xcd) return q + 3 <= end ? buf.readUInt16BE(q + 1) : NaN;
  if (t === 0xce) return q + 5 <= end ? buf.readUInt32BE(q + 1) : NaN;
  if (t === 0xcf) return q + 9 <= end ? buf.readUInt32BE(q + 1) * 2 ** 32 + buf.readUInt32BE(q + 5) : NaN;
  return NaN;
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

/** Interprets a decoded envelope (both codecs produce the same shapes once decoded). */
function envelope(type: string, id: string | undefined, data: Record<string, unknown> | undefined): Control {
  switch (type) {
    case 'ack':
    case 'pong':
      if (id !== undefined) return { kind: 'reply', id, ok: true, status: str(data?.status) ?? type };
      return { kind: 'other', type };
    case 'error': {
      const code = str(data?.code) ?? 'UNKNOWN';
      const message = str(data?.message) ?? '';
      if (id !== undefined) return { kind: 'reply', id, ok: false, status: 'error', code, message };
      return { kind: 'error', code, message };
    }
    case 'group':
    case 'message':
    case 'broadcast': {
      const content = asRecord(data?.content);
      return { kind: 'delivery', stamp: num(content?.bt) ?? NaN, from: str(data?.from), seq: num(data?.seq) };
    }
    default:
      return { kind: 'other', type };
  }
}

export const msgpackCodec: Codec = {
  name: 'msgpack',
  opcode: OP_BINARY,
  protocol: undefined,
  upgradePath(base, user, token) {
    const sep = base.includes('?') ? '&' : '?';
    return token
      ? `${base}${sep}token=${encodeURIComponent(token)}&format=msgpack`
      : `${base}${sep}user=${encodeURIComponent(user)}&format=msgpack`;
  },
  connectFrame: () => null,
  join: (id, group) => pack({ type: 'join', id, data: { group } }),
  group: (id, group, content) => pack({ type: 'group', id, data: { group, content } }),
  direct: (id, to, content) => pack({ type: 'message', id, data: { to, content } }),
  inboxAck: (upTo) => pack({ type: 'ack', data: { upTo } }),
  ping: (id) => pack({ type: 'ping', id }),
  heartbeatReply: () => null,
  stamp(conn, buf, start, end) {
    const h = conn.hint;
    if (h >= 0) {
      const p = start + h;
      if (p + 3 < end && buf[p] === MP0 && buf[p + 1] === MP1 && buf[p + 2] === MP2) {
        const v = mpNumber(buf, p + 3, end);
        if (v === v) return v;
      }
    }
    for (let p = start; p + 3 < end; p++) {
      if (buf[p] === MP0 && buf[p + 1] === MP1 && buf[p + 2] === MP2) {
        const v = mpNumber(buf, p + 3, end);
        if (v === v) {
          conn.hint = p - start;
          return v;
        }
      }
    }
    return NaN;
  },
  decode(buf, start, end) {
    let v: unknown;
    try {
      v = unpack(buf.subarray(start, end));
    } catch (err) {
      return { kind: 'other', type: `undecodable: ${(err as Error).message}` };
    }
    const env = asRecord(v);
    if (!env || typeof env.type !== 'string') return { kind: 'other', type: 'not an envelope' };
    return envelope(env.type, str(env.id), asRecord(env.data));
  },
};

// ---- socket.io -----------------------------------------------------------------

/** `"bt":` in a JSON payload. */
const SIO_MARK = [0x22, 0x62, 0x74, 0x22, 0x3a];
let sioAckId = 0;

function jsonNumber(buf: Buffer, p: number, end: number): number {
  let i = p;
  let neg = false;
  if (buf[i] === 0x2d) {
    neg = true;
    i++;
  }
  let v = 0;
  let digits = 0;
  while (i < end && buf[i]! >= 0x30 && buf[i]! <= 0x39) {
    v = v * 10 + (buf[i]! - 0x30);
    i++;
    digits++;
  }
  if (digits === 0) return NaN;
  if (buf[i] === 0x2e) {
    i++;
    let scale = 0.1;
    while (i < end && buf[i]! >= 0x30 && buf[i]! <= 0x39) {
      v += (buf[i]! - 0x30) * scale;
      scale /= 10;
      i++;
    }
  }
  if (buf[i] === 0x65 || buf[i] === 0x45) {
    // Exponent notation never occurs for our stamps, but be exact if it does.
    let j = i + 1;
    while (j < end && /[-+0-9]/.test(String.fromCharCode(buf[j]!))) j++;
    return Number(buf.toString('latin1', p, j));
  }
  return neg ? -v : v;
}

function sioEvent(name: string, payload: unknown): Buffer {
  return Buffer.from(`42${++sioAckId}${JSON.stringify([name, payload])}`);
}

export const socketioCodec: Codec = {
  name: 'socketio',
  opcode: OP_TEXT,
  protocol: undefined,
  upgradePath: () => '/socket.io/?EIO=4&transport=websocket',
  connectFrame: (user) => Buffer.from(`40${JSON.stringify({ user })}`),
  join: (id, group) => sioEvent('join', { id, group }),
  group: (id, group, content) => sioEvent('group', { id, group, content }),
  direct: (id, to, content) => sioEvent('message', { id, to, content }),
  inboxAck: () => null,
  ping: (id) => sioEvent('ping', { id }),
  heartbeatReply: () => Buffer.from('3'),
  stamp(conn, buf, start, end) {
    // Deliveries are events: 42["group",{...}] / 42["message",{...}]. Acks (43...) carry no content.
    if (end - start < 4 || buf[start] !== 0x34 || buf[start + 1] !== 0x32) return NaN;
    const h = conn.hint;
    let at = -1;
    if (h >= 0 && start + h + 5 < end && buf[start + h] === 0x22 && buf[start + h + 1] === 0x62 &&
      buf[start + h + 2] === 0x74 && buf[start + h + 3] === 0x22 && buf[start + h + 4] === 0x3a) {
      at = start + h;
    } else {
      outer: for (let p = start + 2; p + 5 < end; p++) {
        for (let k = 0; k < 5; k++) if (buf[p + k] !== SIO_MARK[k]) continue outer;
        at = p;
        conn.hint = p - start;
        break;
      }
    }
    return at < 0 ? NaN : jsonNumber(buf, at + 5, end);
  },
  decode(buf, start, end) {
    const text = buf.toString('utf8', start, end);
    const eio = text[0];
    if (eio === '2') return { kind: 'eio-ping' };
    if (eio !== '4') return { kind: 'other', type: `engine.io ${eio}` };
    const sio = text[1];
    if (sio === '0') return { kind: 'sio-connected' };
    let parsed: unknown;
    let i = 2;
    while (i < text.length && text[i]! >= '0' && text[i]! <= '9') i++;
    try {
      parsed = JSON.parse(text.slice(i));
    } catch (err) {
      return { kind: 'other', type: `bad socket.io payload: ${(err as Error).message}` };
    }
    if (sio === '4') {
      const d = asRecord(parsed);
      return { kind: 'error', code: 'CONNECT_ERROR', message: str(d?.message) ?? text.slice(0, 200) };
    }
    if (!Array.isArray(parsed)) return { kind: 'other', type: `socket.io ${sio}` };
    if (sio === '3') {
      // Our peer answers every acked event with {id, status} (status "error" with code/message on failure).
      const d = asRecord(parsed[0]);
      const id = str(d?.id);
      if (id === undefined) return { kind: 'other', type: 'ack without id' };
      const ok = d?.status !== 'error';
      return ok
        ? { kind: 'reply', id, ok, status: str(d?.status) ?? 'ok' }
        : { kind: 'reply', id, ok, status: 'error', code: str(d?.code) ?? 'UNKNOWN', message: str(d?.message) ?? '' };
    }
    if (sio === '2' && typeof parsed[0] === 'string') return envelope(parsed[0], undefined, asRecord(parsed[1]));
    return { kind: 'other', type: `socket.io ${sio}` };
  },
};

export function codecFor(name: CodecName): Codec {
  if (name === 'msgpack') return msgpackCodec;
  if (name === 'socketio') return socketioCodec;
  throw new Error(`unknown codec ${String(name)}`);
}

/** Pad length that brings a group frame of this codec to about `size` bytes (never negative). */
export function padFor(codec: Codec, size: number, group: string): number {
  const probe = codec.group('s0000000.000', group, { bt: 1234567.123456, pad: '' });
  return Math.max(0, size - probe.length);
}
