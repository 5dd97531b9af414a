/**
 * A small MessagePack codec for the client SDK, enough for Switchboard frames: nil,
 * booleans, numbers, strings, arrays and maps with string keys. The gateway never
 * sends binary or extension types and refuses them on input, so they are refused here
 * too. Written for browsers without a bundler (no dependency, no Node API).
 *
 * Integers outside the 32-bit ranges are written as float64: the gateway reads int64
 * as a bigint-sized value it has to special-case, while float64 is exact up to 2^53.
 */

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

class Writer {
  bytes = new Uint8Array(256);
  view = new DataView(this.bytes.buffer);
  length = 0;

  reserve(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.reserve(1);
    this.bytes[this.length++] = v;
  }

  u16(v: number): void {
    this.reserve(2);
    this.view.setUint16(this.length, v);
    this.length += 2;
  }

  u32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, v);
    this.length += 4;
  }

  f64(v: number): void {
    this.reserve(8);
    this.view.setFloat64(this.length, v);
    this.length += 8;
  }

  raw(b: Uint8Array): void {
    this.reserve(b.length);
    this.bytes.set(b, this.length);
    this.length += b.length;
  }
}

/** Encodes a JSON-compatible value; `undefined` object members are left out as JSON.stringify does. */
export function encodeMsgpack(value: unknown): Uint8Array {
  const w = new Writer();
  write(w, value, 0);
  return w.bytes.slice(0, w.length);
}

function write(w: Writer, value: unknown, depth: number): void {
  if (depth > 64) throw new TypeError('value nested too deeply for MessagePack');
  if (value === null || value === undefined) return w.u8(0xc0);
  if (value === false) return w.u8(0xc2);
  if (value === true) return w.u8(0xc3);
  if (typeof value === 'number') return writeNumber(w, value);
  if (typeof value === 'string') return writeString(w, value);
  if (Array.isArray(value)) {
    const n = value.length;
    if (n < 16) w.u8(0x90 | n);
    else if (n < 0x10000) { w.u8(0xdc); w.u16(n); }
    else { w.u8(0xdd); w.u32(n); }
    for (const item of value) write(w, item, depth + 1);
    return;
  }
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    const n = entries.length;
    if (n < 16) w.u8(0x80 | n);
    else if (n < 0x10000) { w.u8(0xde); w.u16(n); }
    else { w.u8(0xdf); w.u32(n); }
    for (const [k, v] of entries) {
      writeString(w, k);
      write(w, v, depth + 1);
    }
    return;
  }
  throw new TypeError(`cannot encode a ${typeof value} as MessagePack`);
}

function writeNumber(w: Writer, n: number): void {
  if (!Number.isFinite(n)) throw new TypeError('NaN and Infinity are not allowed in frames');
  if (Number.isInteger(n) && !Object.is(n, -0)) {
    if (n >= 0) {
      if (n < 0x80) return w.u8(n);
      if (n < 0x100) { w.u8(0xcc); return w.u8(n); }
      if (n < 0x10000) { w.u8(0xcd); return w.u16(n); }
      if (n < 0x100000000) { w.u8(0xce); return w.u32(n); }
    } else {
      if (n >= -32) return w.u8(n & 0xff);
      if (n >= -0x80) { w.u8(0xd0); return w.u8(n & 0xff); }
      if (n >= -0x8000) { w.u8(0xd1); return w.u16(n & 0xffff); }
      if (n >= -0x80000000) { w.u8(0xd2); return w.u32(n >>> 0); }
    }
  }
  w.u8(0xcb);
  w.f64(n);
}

function writeString(w: Writer, s: string): void {
  const b = utf8Encoder.encode(s);
  const n = b.length;
  if (n < 32) w.u8(0xa0 | n);
  else if (n < 0x100) { w.u8(0xd9); w.u8(n); }
  else if (n < 0x10000) { w.u8(0xda); w.u16(n); }
  else { w.u8(0xdb); w.u32(n); }
  w.raw(b);
}

/** Decodes one MessagePack value that must span the whole input; throws a TypeError on anything malformed. */
export function decodeMsgpack(input: Uint8Array): unknown {
  const r = { bytes: input, view: new DataView(input.buffer, input.byteOffset, input.byteLength), pos: 0 };
  const value = read(r, 0);
  if (r.pos !== input.length) throw new TypeError('trailing bytes after a MessagePack value');
  return value;
}

interface Reader { bytes: Uint8Array; view: DataView; pos: number }

function need(r: Reader, n: number): number {
  const at = r.pos;
  if (at + n > r.bytes.length) throw new TypeError('truncated MessagePack value');
  r.pos += n;
  return at;
}

function read(r: Reader, depth: number): unknown {
  if (depth > 64) throw new TypeError('MessagePack value nested too deeply');
  const t = r.bytes[need(r, 1)]!;
  if (t < 0x80) return t;
  if (t >= 0xe0) return t - 0x100;
  if ((t & 0xf0) === 0x80) return readMap(r, t & 0x0f, depth);
  if ((t & 0xf0) === 0x90) return readArray(r, t & 0x0f, depth);
  if ((t & 0xe0) === 0xa0) return readString(r, t & 0x1f);
  switch (t) {
    case 0xc0: return null;
    case 0xc2: return false;
    case 0xc3: return true;
    case 0xca: return r.view.getFloat32(need(r, 4));
    case 0xcb: return r.view.getFloat64(need(r, 8));
    case 0xcc: return r.view.getUint8(need(r, 1));
    case 0xcd: return r.view.getUint16(need(r, 2));
    case 0xce: return r.view.getUint32(need(r, 4));
    case 0xcf: return Number(r.view.getBigUint64(need(r, 8)));
    case 0xd0: return r.view.getInt8(need(r, 1));
    case 0xd1: return r.view.getInt16(need(r, 2));
    case 0xd2: return r.view.getInt32(need(r, 4));
    case 0xd3: return Number(r.view.getBigInt64(need(r, 8)));
    case 0xd9: return readString(r, r.view.getUint8(need(r, 1)));
    case 0xda: return readString(r, r.view.getUint16(need(r, 2)));
    case 0xdb: return readString(r, r.view.getUint32(need(r, 4)));
    case 0xdc: return readArray(r, r.view.getUint16(need(r, 2)), depth);
    case 0xdd: return readArray(r, r.view.getUint32(need(r, 4)), depth);
    case 0xde: return readMap(r, r.view.getUint16(need(r, 2)), depth);
    case 0xdf: return readMap(r, r.view.getUint32(need(r, 4)), depth);
    default: throw new TypeError(`unsupported MessagePack type 0x${t.toString(16)}`);
  }
}

function readString(r: Reader, n: number): string {
  const at = need(r, n);
  return utf8Decoder.decode(r.bytes.subarray(at, at + n));
}

function readArray(r: Reader, n: number, depth: number): unknown[] {
  // Each item takes at least one byte: a length beyond the input is a lie, refuse before allocating.
  if (n > r.bytes.length - r.pos) throw new TypeError('truncated MessagePack array');
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) out.push(read(r, depth + 1));
  return out;
}

function readMap(r: Reader, n: number, depth: number): Record<string, unknown> {
  if (n * 2 > r.bytes.length - r.pos) throw new TypeError('truncated MessagePack map');
  // A null-prototype object: a key "__proto__" from the network stays a plain key.
  const out = Object.create(null) as Record<string, unknown>;
  for (let i = 0; i < n; i++) {
    const key = read(r, depth + 1);
    if (typeof key !== 'string') throw new TypeError('MessagePack map key is not a string');
    out[key] = read(r, depth + 1);
  }
  return out;
}
