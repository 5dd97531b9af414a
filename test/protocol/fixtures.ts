/**
 * Byte fixture helpers for the codec tests. `mp` is a deliberately tiny MessagePack
 * encoder written from the format specification (not msgpackr), so fixtures do not
 * depend on the library under test.
 */
import { decodeFrame, type CodecLimits } from '../../src/protocol/codec.js';
import type { GatewayError } from '../../src/errors.js';
import type { ClientFrame } from '../../src/protocol/frames.js';

/** Decodes a frame that must be valid; throws with the codec's message otherwise. */
export function decodeOk(bytes: Uint8Array, binary: boolean): ClientFrame {
  const result = decodeFrame(bytes, binary);
  if (!result.ok) throw new Error(`expected a valid frame, got ${result.error.code}: ${result.error.message}`);
  return result.frame;
}

/** Decodes a frame that must be rejected; throws when it was accepted. */
export function decodeBad(bytes: Uint8Array, binary: boolean, limits?: CodecLimits): { error: GatewayError; id?: string } {
  const result = decodeFrame(bytes, binary, limits);
  if (result.ok) throw new Error(`expected a rejection, got ${JSON.stringify(result.frame).slice(0, 200)}`);
  return result;
}

/** Bytes from hex text; whitespace and `#` comments (to end of line) are ignored. */
export function hex(text: string): Uint8Array {
  const digits = text.replace(/#[^\n]*/g, '').replace(/\s+/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(digits)) throw new Error(`bad hex fixture: ${digits}`);
  return Uint8Array.from(Buffer.from(digits, 'hex'));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** UTF-8 bytes of a JSON text fixture. */
export function utf8(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text, 'utf8'));
}

export function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Already-encoded bytes to splice into an `mp` value unchanged. */
export class Raw {
  constructor(readonly bytes: Uint8Array) {}
}

function be(value: number, size: number): number[] {
  const out: number[] = [];
  for (let i = size - 1; i >= 0; i--) out.push(Math.floor(value / 2 ** (8 * i)) & 0xff);
  return out;
}

function pushAll(out: number[], bytes: ArrayLike<number>): void {
  for (let i = 0; i < bytes.length; i++) out.push(bytes[i]);
}

function pushStr(out: number[], text: string): void {
  const body = Buffer.from(text, 'utf8');
  const n = body.length;
  if (n < 32) out.push(0xa0 | n);
  else if (n < 0x100) out.push(0xd9, n);
  else if (n < 0x10000) out.push(0xda, ...be(n, 2));
  else out.push(0xdb, ...be(n, 4));
  pushAll(out, body);
}

function header(n: number, fix: number, fixMax: number, h16: number, h32: number): number[] {
  if (n <= fixMax) return [fix | n];
  if (n < 0x10000) return [h16, ...be(n, 2)];
  return [h32, ...be(n, 4)];
}

function encode(value: unknown, out: number[]): void {
  if (value instanceof Raw) pushAll(out, value.bytes);
  else if (value === null) out.push(0xc0);
  else if (value === false) out.push(0xc2);
  else if (value === true) out.push(0xc3);
  else if (typeof value === 'string') pushStr(out, value);
  else if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 0 && value < 2 ** 32) {
      if (value < 0x80) out.push(value);
      else if (value < 0x100) out.push(0xcc, value);
      else if (value < 0x10000) out.push(0xcd, ...be(value, 2));
      else out.push(0xce, ...be(value, 4));
    } else if (Number.isInteger(value) && value < 0 && value >= -32) {
      out.push(0x100 + value);
    } else if (Number.isInteger(value) && value < 0 && value >= -(2 ** 31)) {
      out.push(0xd2, ...be(value >>> 0, 4));
    } else {
      const buf = Buffer.alloc(8);
      buf.writeDoubleBE(value);
      out.push(0xcb, ...buf);
    }
  } else if (Array.isArray(value)) {
    out.push(...header(value.length, 0x90, 15, 0xdc, 0xdd));
    for (const item of value) encode(item, out);
  } else if (typeof value === 'object') {
    const entries = Object.entries(value);
    out.push(...header(entries.length, 0x80, 15, 0xde, 0xdf));
    for (const [key, item] of entries) {
      pushStr(out, key);
      encode(item, out);
    }
  } else {
    throw new Error(`mp: cannot encode ${typeof value}`);
  }
}

/** MessagePack bytes of a JSON-like value (plus Raw splices), smallest headers, key order kept. */
export function mp(value: unknown): Uint8Array {
  const out: number[] = [];
  encode(value, out);
  return Uint8Array.from(out);
}

/** Snapshot of Object.prototype, to prove no fixture polluted it. */
export function prototypeSnapshot(): string[] {
  return Reflect.ownKeys(Object.prototype).map(String).sort();
}
