import { decodeMsgpack, encodeMsgpack } from './msgpack.js';

export interface WireFrame { type?: unknown; id?: unknown; data?: unknown }

/** A frame as the socket delivered it: text is JSON, binary is MessagePack, whatever was negotiated. */
export function decodeFrame(raw: unknown): WireFrame {
  let value: unknown;
  if (typeof raw === 'string') value = JSON.parse(raw);
  else if (raw instanceof ArrayBuffer) value = decodeMsgpack(new Uint8Array(raw));
  else if (ArrayBuffer.isView(raw)) value = decodeMsgpack(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength));
  else throw new TypeError(`unexpected frame payload ${typeof raw}`);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new TypeError('a frame is not an object');
  return value as WireFrame;
}

/** Throws a TypeError for content that has no JSON form (NaN, a function, …). */
export function encodeFrame(frame: { type: string; id?: string; data?: unknown }, format: 'json' | 'msgpack'): string | Uint8Array {
  return format === 'msgpack' ? encodeMsgpack(frame) : JSON.stringify(frame);
}
