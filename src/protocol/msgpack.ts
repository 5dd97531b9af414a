/**
 * MessagePack for the wire: a strict structural scan of untrusted bytes, then msgpackr
 * to build the values, and msgpackr to encode.
 *
 * Why a scan before msgpackr: msgpackr is a general-purpose decoder. It understands
 * extensions (records, Date, Set, RegExp, Error, typed arrays, structured-clone ids),
 * turns bin into Uint8Array, accepts non-string map keys, renames a `__proto__` key to
 * `__proto_` silently and recurses once per nesting level (a deep input overflows the
 * stack). Its extension table is module-global, so registering throwing unpackers
 * there would also change what every other msgpackr user in the process can decode,
 * and fixext 0x72 (record definitions) is handled before that table is even consulted.
 * The scan below walks the token stream iteratively, bounded by the codec limits, and
 * admits only the JSON-compatible subset: nil, bool, int, float, str (valid UTF-8),
 * array, map with string keys. After it passes, msgpackr sees nothing it could turn into
 * anything but plain values. The scan does not touch global msgpackr state.
 */
import { Packr, Unpackr, type Options } from 'msgpackr';

/** A failure of the scan: a human message and, when it was read before the failure, the envelope id. */
export class MsgpackScanError extends Error {
  constructor(message: string, readonly id?: string) {
    super(message);
    this.name = 'MsgpackScanError';
  }
}

export interface ScanLimits {
  maxDepth: number;
  maxArrayLength: number;
  maxIdLength: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
// `__proto__` as UTF-8 bytes: msgpackr would rename it, so the scan rejects it instead.
const PROTO = [0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0x5f];
// `id` as UTF-8 bytes: the root map's id is remembered so a failure can still echo it.
const ID = [0x69, 0x64];

const EXT_NAMES: Record<number, string> = {
  [-1]: 'timestamp', 0: 'undefined', 0x42: 'bigint', 0x62: 'bundled strings', 0x65: 'error',
  0x69: 'structured-clone id', 0x70: 'structured-clone pointer', 0x72: 'record', 0x73: 'set',
  0x74: 'typed array', 0x78: 'regexp',
};

function hex(token: number): string {
  return '0x' + token.toString(16).padStart(2, '0');
}

function bytesEqual(bytes: Uint8Array, start: number, length: number, expected: number[]): boolean {
  if (length !== expected.length) return false;
  for (let i = 0; i < length; i++) if (bytes[start + i] !== expected[i]) return false;
  return true;
}

/**
 * Checks that `bytes` hold exactly one MessagePack value of the JSON-compatible subset,
 * nested at most `limits.maxDepth` containers deep (the outermost container is depth 1),
 * with no array longer than `limits.maxArrayLength` and no `__proto__` map key.
 * Runs in O(bytes) time with O(depth) memory and never recurses.
 * @throws MsgpackScanError describing the first problem (with its byte offset).
 */
export function scanMsgpack(bytes: Uint8Array, limits: ScanLimits): void {
  const end = bytes.length;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Per open container: items still to read (a map of n entries has 2n items).
  const remaining: number[] = [];
  const isMap: boolean[] = [];
  let p = 0;
  let id: string | undefined;
  let idNext = false; // the value being read is the root map's `id`

  const fail = (message: string): never => {
    throw new MsgpackScanError(`invalid MessagePack: ${message}`, id);
  };
  const need = (n: number, what: string): void => {
    if (end - p < n) fail(`truncated ${what} at byte ${p}`);
  };

  if (end === 0) fail('empty frame');
  for (;;) {
    const at = p;
    const top = remaining.length - 1;
    const isKey = top >= 0 && isMap[top] && remaining[top] % 2 === 0;
    const isIdValue = idNext;
    idNext = false;
    const token = bytes[p++];
    let length = -1; // str length, when the token is a str
    let container = 0; // 1 array, 2 map
    let count = 0;

    if (token <= 0x7f || token >= 0xe0) {
      // positive / negative fixint
    } else if (token <= 0x8f) {
      container = 2; count = token & 0x0f;
    } else if (token <= 0x9f) {
      container = 1; count = token & 0x0f;
    } else if (token <= 0xbf) {
      length = token & 0x1f;
    } else {
      switch (token) {
        case 0xc0: case 0xc2: case 0xc3: break;
        case 0xc1: fail(`reserved token 0xc1 at byte ${at}`); break;
        case 0xc4: case 0xc5: case 0xc6:
          fail(`bin value at byte ${at}: binary data is not allowed, send strings or arrays`); break;
        case 0xc7: case 0xc8: case 0xc9: case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: {
          const headerLength = token === 0xc7 ? 1 : token === 0xc8 ? 2 : token === 0xc9 ? 4 : 0;
          need(headerLength + 1, 'ext header');
          const type = view.getInt8(p + headerLength);
          const name = EXT_NAMES[type] ? ` (${EXT_NAMES[type]})` : '';
          fail(`ext type ${type}${name} at byte ${at}: extension types are not allowed`); break;
        }
        case 0xca: need(4, 'float32'); p += 4; break;
        case 0xcb: need(8, 'float64'); p += 8; break;
        case 0xcc: case 0xd0: need(1, 'integer'); p += 1; break;
        case 0xcd: case 0xd1: need(2, 'integer'); p += 2; break;
        case 0xce: case 0xd2: need(4, 'integer'); p += 4; break;
        case 0xcf: case 0xd3: need(8, 'integer'); p += 8; break;
        case 0xd9: need(1, 'str8 header'); length = bytes[p]; p += 1; break;
        case 0xda: need(2, 'str16 header'); length = view.getUint16(p); p += 2; break;
        case 0xdb: need(4, 'str32 header'); length = view.getUint32(p); p += 4; break;
        case 0xdc: need(2, 'array16 header'); container = 1; count = view.getUint16(p); p += 2; break;
        case 0xdd: need(4, 'array32 header'); container = 1; count = view.getUint32(p); p += 4; break;
        case 0xde: need(2, 'map16 header'); container = 2; count = view.getUint16(p); p += 2; break;
        case 0xdf: need(4, 'map32 header'); container = 2; count = view.getUint32(p); p += 4; break;
        default: fail(`unknown token ${hex(token)} at byte ${at}`);
      }
    }

    if (isKey && length < 0) fail(`map key at byte ${at} is not a string`);
    if (length >= 0) {
      need(length, 'string');
      let ascii = true;
      for (let i = p; i < p + length; i++) if (bytes[i] >= 0x80) { ascii = false; break; }
      let text: string | undefined;
      if (!ascii) {
        try {
          text = utf8.decode(bytes.subarray(p, p + length));
        } catch (err) {
          if (!(err instanceof TypeError)) throw err;
          fail(`string at byte ${at} is not valid UTF-8`);
        }
      }
      if (isKey) {
        if (bytesEqual(bytes, p, length, PROTO)) fail(`map key '__proto__' at byte ${at} is not allowed`);
        if (top === 0 && bytesEqual(bytes, p, length, ID)) idNext = true;
      } else if (isIdValue && length >= 1 && length <= limits.maxIdLength * 4) {
        text ??= utf8.decode(bytes.subarray(p, p + length));
        if (text.length <= limits.maxIdLength) id = text;
      }
      p += length;
    }

    if (container !== 0) {
      if (remaining.length + 1 > limits.maxDepth) fail(`nesting deeper than ${limits.maxDepth} levels at byte ${at}`);
      if (container === 1 && count > limits.maxArrayLength) {
        fail(`array of ${count} elements at byte ${at} is longer than ${limits.maxArrayLength}`);
      }
      const items = container === 2 ? count * 2 : count;
      // Every item takes at least one byte: a header promising more is truncated (and must not allocate).
      if (items > end - p) fail(`truncated ${container === 2 ? 'map' : 'array'} at byte ${at}`);
      if (items > 0) {
        remaining.push(items);
        isMap.push(container === 2);
        continue;
      }
    }
    // One item complete: close every container it completes.
    while (remaining.length > 0) {
      if (--remaining[remaining.length - 1] > 0) break;
      remaining.pop();
      isMap.pop();
    }
    if (remaining.length === 0) break;
    if (p >= end) fail(`truncated at byte ${p}`);
  }
  if (p !== end) fail(`${end - p} trailing byte(s) after the value at byte ${p}`);
}

/**
 * The decoder for bytes that passed `scanMsgpack`. Safe integers encoded as int64 come out
 * as numbers (other languages often encode every integer as int64); larger ones as bigint,
 * which the value check turns into decimal strings.
 */
// 'auto' and skipValues exist in msgpackr 2.x but are missing from its type declarations.
type MsgpackrOptions = Omit<Options, 'int64AsType'> & { int64AsType?: 'auto'; skipValues?: unknown[] };
const unpackr = new Unpackr({
  useRecords: false, mapsAsObjects: true, structuredClone: false, int64AsType: 'auto',
} satisfies MsgpackrOptions as unknown as Options);

/** Decodes one MessagePack value. Only call it on bytes that passed `scanMsgpack`. */
export function unpackScanned(bytes: Uint8Array): unknown {
  return unpackr.unpack(bytes);
}

/**
 * The encoder every MessagePack frame goes through: plain maps with minimal headers
 * (no records, no extensions), object properties holding `undefined` are left out and
 * `undefined` elsewhere is nil — the same shape JSON.stringify gives, so clients in any
 * language decode it with a plain MessagePack library.
 */
const packr = new Packr({
  useRecords: false, variableMapSize: true, skipValues: [undefined], encodeUndefinedAsNil: true,
} satisfies MsgpackrOptions as unknown as Options);

/**
 * Encodes a JSON-compatible value as MessagePack (plain maps, no record extension), as
 * msgpackr does: integers outside the 32-bit range are float64. For the gateway's own
 * storage (the Redis inbox reads it back with a decoder that expects that); anything
 * sent to clients or callers goes through encodeWireMsgpack.
 */
export function encodeMsgpack(value: unknown): Uint8Array {
  return packr.pack(value);
}

/**
 * Encodes a value for the wire (frames, HTTP API answers, node-to-node frames). Every
 * integer is a MessagePack integer: msgpackr writes integers outside the 32-bit range
 * (timestamps, large seqs) as float64, which typed clients (Go, Rust, C#) refuse to
 * read into an integer field, so those are rewritten as int64/uint64 (see
 * integersAsInt64). Numbers with a fraction, and integers beyond 2^53 (not exact in a
 * double), stay float64.
 */
export function encodeWireMsgpack(value: unknown): Uint8Array {
  return integersAsInt64(packr.pack(value));
}

/**
 * Rewrites, in place, every float64 (0xcb) token of `bytes` that holds a safe integer
 * as uint64 (0xcf) or int64 (0xd3): the same 9 bytes, so nothing moves. MessagePack is
 * a prefix encoding, so one linear pass over the tokens visits every value (a
 * container is only its header; its items follow it). Only for bytes this module
 * encoded: they are well formed.
 */
export function integersAsInt64(bytes: Uint8Array): Uint8Array {
  if (bytes.indexOf(0xcb) < 0) return bytes; // no float64 at all: the common small frame
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.length;
  let p = 0;
  while (p < end) {
    const token = bytes[p]!;
    if (token <= 0x7f || token >= 0xe0 || (token >= 0x80 && token <= 0x9f) || token === 0xc0 || token === 0xc2 || token === 0xc3) {
      p += 1; // fixint, fixmap/fixarray header, nil, bool
    } else if (token >= 0xa0 && token <= 0xbf) {
      p += 1 + (token & 0x1f);
    } else {
      switch (token) {
        case 0xcb: {
          const value = view.getFloat64(p + 1);
          if (Number.isSafeInteger(value)) {
            if (value >= 0) {
              bytes[p] = 0xcf;
              view.setBigUint64(p + 1, BigInt(value));
            } else {
              bytes[p] = 0xd3;
              view.setBigInt64(p + 1, BigInt(value));
            }
          }
          p += 9;
          break;
        }
        case 0xca: case 0xce: case 0xd2: p += 5; break;
        case 0xcc: case 0xd0: p += 2; break;
        case 0xcd: case 0xd1: p += 3; break;
        case 0xcf: case 0xd3: p += 9; break;
        case 0xd9: case 0xc4: p += 2 + bytes[p + 1]!; break;
        case 0xda: case 0xc5: p += 3 + view.getUint16(p + 1); break;
        case 0xdb: case 0xc6: p += 5 + view.getUint32(p + 1); break;
        case 0xdc: case 0xde: p += 3; break;
        case 0xdd: case 0xdf: p += 5; break;
        case 0xd4: p += 3; break;
        case 0xd5: p += 4; break;
        case 0xd6: p += 6; break;
        case 0xd7: p += 10; break;
        case 0xd8: p += 18; break;
        case 0xc7: p += 3 + bytes[p + 1]!; break;
        case 0xc8: p += 4 + view.getUint16(p + 1); break;
        case 0xc9: p += 6 + view.getUint32(p + 1); break;
        default: return bytes; // 0xc1 never appears in msgpackr's output; stop rather than guess
      }
    }
  }
  return bytes;
}
