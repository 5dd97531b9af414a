/**
 * The wire codec: bytes in, typed frames out, and back. No I/O, no state besides
 * per-frame encoding caches. Binary WebSocket frames are MessagePack, text frames are
 * UTF-8 JSON; both decode to the same ClientFrame values and pass the same checks
 * (validate.ts), so a client sees identical behaviour in either format.
 */
import { GatewayError } from '../errors.js';
import type { ClientFrame, ErrorOut, Format, ServerFrame } from './frames.js';
import { encodeWireMsgpack, MsgpackScanError, scanMsgpack, unpackScanned } from './msgpack.js';
import { checkValue, envelopeId, toClientFrame, type CodecLimits, DEFAULT_CODEC_LIMITS } from './validate.js';

export { encodeMsgpack, encodeWireMsgpack } from './msgpack.js';
export {
  CLIENT_FRAME_TYPES, DEFAULT_CODEC_LIMITS, isGroupName, isUserId, type CodecLimits,
} from './validate.js';

export type DecodeResult = { ok: true; frame: ClientFrame } | { ok: false; error: GatewayError; id?: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });

function bad(message: string): GatewayError {
  return new GatewayError('BAD_REQUEST', message);
}

function failure(error: GatewayError, id: string | undefined): DecodeResult {
  return id === undefined ? { ok: false, error } : { ok: false, error, id };
}

/** Parses untrusted bytes into a raw value, or throws GatewayError('BAD_REQUEST') (MsgpackScanError for MessagePack structure). */
function parse(bytes: Uint8Array, binary: boolean, limits: CodecLimits): unknown {
  if (binary) {
    scanMsgpack(bytes, limits);
    try {
      return unpackScanned(bytes);
    } catch (err) {
      // The scan admits only what msgpackr decodes without complaint; this is a safety net.
      if (err instanceof Error) throw bad(`invalid MessagePack: ${err.message}`);
      throw err;
    }
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch (err) {
    if (err instanceof TypeError) throw bad('frame is not valid UTF-8 text');
    throw err;
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    if (err instanceof SyntaxError) throw bad(`invalid JSON: ${err.message}`);
    // V8 parses JSON iteratively, but building absurdly nested values can still exhaust the stack.
    if (err instanceof RangeError) throw bad(`frame: nesting deeper than ${limits.maxDepth} levels`);
    throw err;
  }
}

/**
 * Decodes one client frame. `binary` true means MessagePack, false UTF-8 JSON text.
 * Never throws: bad input gives `{ ok: false, error: GatewayError('BAD_REQUEST', <what is wrong>) }`
 * with `id` set when a valid envelope id could be read before the failure, so the
 * error reply can echo it. A bug inside the codec gives GatewayError('INTERNAL') with
 * the original exception as `error.cause` (never sent to the client).
 */
export function decodeFrame(bytes: Uint8Array, binary: boolean, limits: CodecLimits = DEFAULT_CODEC_LIMITS): DecodeResult {
  try {
    let value: unknown;
    try {
      value = parse(bytes, binary, limits);
    } catch (err) {
      if (err instanceof MsgpackScanError) return failure(bad(err.message), err.id);
      if (err instanceof GatewayError) return failure(err, undefined);
      throw err;
    }
    const id = envelopeId(value, limits);
    try {
      return { ok: true, frame: toClientFrame(checkValue(value, limits), limits) };
    } catch (err) {
      if (err instanceof GatewayError) return failure(err, id);
      throw err;
    }
  } catch (err) {
    const error = new GatewayError('INTERNAL');
    error.cause = err;
    return { ok: false, error };
  }
}

/** One encoding of a server frame: `binary` is true for MessagePack (send as a binary WebSocket frame). */
export interface Encoded {
  bytes: Uint8Array;
  binary: boolean;
}

/**
 * Encodes a server frame once for one format. JSON is JSON.stringify as UTF-8;
 * MessagePack uses plain maps with no extensions and integers as integers (see encodeWireMsgpack). In both, object
 * properties holding `undefined` are omitted.
 */
export function encodeFrame(frame: ServerFrame, format: Format): Encoded {
  if (format === 'msgpack') return { bytes: encodeWireMsgpack(frame), binary: true };
  return { bytes: Buffer.from(JSON.stringify(frame), 'utf8'), binary: false };
}

/**
 * A server frame with lazily computed encodings, for publish paths that send one frame
 * to many connections: each format is encoded at most once, on the first `get` for it,
 * and every later `get` returns the same Encoded object. Encodings are immutable by
 * contract: callers must not modify `bytes`.
 */
export class EncodedFrame {
  #json: Encoded | undefined;
  #msgpack: Encoded | undefined;

  constructor(readonly frame: ServerFrame) {}

  /**
   * Wraps a MessagePack server frame received from another node: decodes and checks it
   * (decodeServerFrame) and keeps the received bytes as its MessagePack encoding, so
   * relaying it to binary clients costs no re-encoding.
   * @throws GatewayError('BAD_REQUEST') when the bytes are not a valid server frame.
   */
  static fromMsgpack(bytes: Uint8Array): EncodedFrame {
    const encoded = new EncodedFrame(decodeServerFrame(bytes));
    encoded.#msgpack = { bytes, binary: true };
    return encoded;
  }

  get(format: Format): Encoded {
    if (format === 'msgpack') return (this.#msgpack ??= encodeFrame(this.frame, 'msgpack'));
    return (this.#json ??= encodeFrame(this.frame, 'json'));
  }
}

/** The error frame for `err`, echoing the client's frame `id` when given. */
export function errorFrame(err: GatewayError, id?: string): ErrorOut {
  const data = err.toJSON();
  return id === undefined ? { type: 'error', data } : { type: 'error', id, data };
}

// A record, not a list, so adding a server frame type to frames.ts without listing it here fails to compile.
const SERVER_TYPES: Record<ServerFrame['type'], true> = {
  message: true, group: true, broadcast: true, ack: true, pong: true, error: true,
  status: true, presence: true, receipt: true, sync: true, member: true, kick: true, control: true, history: true,
};
export const SERVER_FRAME_TYPES = Object.keys(SERVER_TYPES) as readonly ServerFrame['type'][];
const SERVER_TYPE_SET: ReadonlySet<string> = new Set(SERVER_FRAME_TYPES);

/**
 * Limits for frames from other nodes: their content already passed a node's client
 * limits, so these only bound the work a corrupt or hostile payload can cause.
 */
export const SERVER_FRAME_LIMITS: Readonly<CodecLimits> = Object.freeze({
  maxDepth: 128,
  maxStringLength: 16 * 1024 * 1024,
  maxArrayLength: 1_000_000,
  maxUsersPerList: 1_000_000,
  maxIdLength: 64,
});

/**
 * Decodes a MessagePack server frame that came from another node. The source is
 * trusted, but the bytes still pass the same structural scan and value walk as client
 * input, and the envelope must be `{ type: <server frame type>, id?: string, data: object }`.
 * Fields inside `data` are not checked per type.
 * @throws GatewayError('BAD_REQUEST') describing what is wrong.
 */
export function decodeServerFrame(bytes: Uint8Array, limits: CodecLimits = SERVER_FRAME_LIMITS): ServerFrame {
  let value: unknown;
  try {
    scanMsgpack(bytes, limits);
    value = checkValue(unpackScanned(bytes), limits);
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    if (err instanceof Error) throw bad(`server frame: ${err.message}`);
    throw err;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw bad('server frame: expected a map {type, id?, data}');
  }
  const frame = value as Record<string, unknown>;
  if (typeof frame.type !== 'string' || !SERVER_TYPE_SET.has(frame.type)) {
    throw bad(`server frame: unknown type ${JSON.stringify(String(frame.type).slice(0, 40))}`);
  }
  if (Object.hasOwn(frame, 'id') && (typeof frame.id !== 'string' || frame.id.length > limits.maxIdLength)) {
    throw bad('server frame: id must be a string');
  }
  if (typeof frame.data !== 'object' || frame.data === null || Array.isArray(frame.data)) {
    throw bad('server frame: data must be a map');
  }
  return frame as unknown as ServerFrame;
}
