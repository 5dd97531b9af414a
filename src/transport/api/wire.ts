/**
 * Bodies in, answers out: JSON by default, MessagePack on request. Untrusted MessagePack
 * passes the project's byte scanner before msgpackr sees it, and every decoded body
 * passes the same value walk as a client frame (depth, string and array lengths,
 * forbidden keys), so nothing reaches a handler that a WebSocket client could not send.
 */
import { GatewayError } from '../../errors.js';
import { encodeWireMsgpack, MsgpackScanError, scanMsgpack, unpackScanned } from '../../protocol/msgpack.js';
import { checkValue, type CodecLimits } from '../../protocol/validate.js';

export type BodyFormat = 'json' | 'msgpack';

const MSGPACK_TYPES: ReadonlySet<string> = new Set(['application/msgpack', 'application/x-msgpack', 'application/vnd.msgpack']);
const utf8 = new TextDecoder('utf-8', { fatal: true });

function mediaType(header: string): string {
  return header.split(';', 1)[0]!.trim().toLowerCase();
}

/**
 * The format of a request body from its Content-Type. An absent Content-Type is taken
 * as JSON (what curl users forget most); anything else is UNSUPPORTED_MEDIA_TYPE.
 */
export function bodyFormat(contentType: string): BodyFormat {
  const type = mediaType(contentType);
  if (type === '' || type === 'application/json') return 'json';
  if (MSGPACK_TYPES.has(type)) return 'msgpack';
  throw new GatewayError('UNSUPPORTED_MEDIA_TYPE', `content-type ${JSON.stringify(type.slice(0, 60))}: send application/json or application/msgpack`);
}

/** The answer format from Accept: MessagePack when the caller lists a MessagePack type, else JSON. */
export function answerFormat(accept: string): BodyFormat {
  for (const part of accept.split(',')) if (MSGPACK_TYPES.has(mediaType(part))) return 'msgpack';
  return 'json';
}

/**
 * Decodes and checks a request body. An empty body is `{}` (routes whose fields are all
 * optional need none); otherwise it must be an object.
 * @throws GatewayError('BAD_REQUEST') naming what is wrong, with `body` as the root of paths.
 */
export function decodeBody(bytes: Uint8Array, format: BodyFormat, limits: CodecLimits): Record<string, unknown> {
  if (bytes.length === 0) return {};
  let value: unknown;
  if (format === 'msgpack') {
    try {
      scanMsgpack(bytes, limits);
    } catch (err) {
      if (err instanceof MsgpackScanError) throw new GatewayError('BAD_REQUEST', `body: ${err.message}`);
      throw err;
    }
    value = unpackScanned(bytes);
  } else {
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch (err) {
      if (err instanceof TypeError) throw new GatewayError('BAD_REQUEST', 'body: not valid UTF-8');
      throw err;
    }
    try {
      value = JSON.parse(text);
    } catch (err) {
      if (err instanceof SyntaxError) throw new GatewayError('BAD_REQUEST', `body: invalid JSON: ${err.message}`);
      if (err instanceof RangeError) throw new GatewayError('BAD_REQUEST', `body: nesting deeper than ${limits.maxDepth} levels`);
      throw err;
    }
  }
  try {
    value = checkValue(value, limits);
  } catch (err) {
    // The value walk names paths from `frame`; here the root is the body.
    if (err instanceof GatewayError) throw new GatewayError('BAD_REQUEST', err.message.replace(/^frame/, 'body'));
    throw err;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new GatewayError('BAD_REQUEST', 'body: expected an object');
  }
  return value as Record<string, unknown>;
}

/** An answer's bytes and content type in the requested format. */
export function encodeAnswer(body: unknown, format: BodyFormat): { bytes: Uint8Array | string; contentType: string } {
  if (format === 'msgpack') return { bytes: encodeWireMsgpack(body), contentType: 'application/msgpack' };
  return { bytes: JSON.stringify(body), contentType: 'application/json' };
}
