import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { Logger } from 'pino';
import { GatewayError, toGatewayError } from '../../errors.js';
import type { StoredAnswer } from '../../engine/idempotency.js';
import type { Metrics } from '../../metrics/registry.js';
import type { CodecLimits } from '../../protocol/validate.js';
import { statusLine } from '../http.js';
import type { ApiCaller, ApiKeys } from './api-keys.js';
import { IdempotencyGuard, requestFingerprint } from './idempotency.js';
import { API_PREFIX, type ApiRequest, type ApiRoute } from './route.js';
import type { Router } from './router.js';
import { answerFormat, bodyFormat, decodeBody, encodeAnswer, type BodyFormat } from './wire.js';

export interface ApiEndpointDeps {
  router: Router;
  keys: ApiKeys;
  idempotency: IdempotencyGuard;
  /** Http.MaxBodyBytes. */
  maxBodyBytes: number;
  /** Limits for decoded bodies: the client frame limits, one level shallower (a body has no envelope). */
  bodyLimits: CodecLimits;
  metrics: Metrics;
  log: Logger;
}

/** What one request carries, read from uWS's HttpRequest before the handler returns (it is invalid after). */
interface Incoming {
  method: string;
  path: string;
  query: string;
  authorization: string;
  apiKey: string;
  contentType: string;
  contentLength: number | undefined;
  /** The request has a body (declared length > 0, or chunked). */
  hasBody: boolean;
  idempotencyKey: string;
  format: BodyFormat;
  started: number;
}

/**
 * One request's response side. uWS forbids touching `res` after an abort, so every
 * write goes through here and is dropped once the client is gone; writes after an
 * await are corked so that status, headers and body leave in one packet.
 */
class Reply {
  aborted = false;
  sent = false;
  /** The body was never read (a route without one): the connection cannot be reused. */
  closeAfter = false;

  constructor(private readonly res: HttpResponse, private readonly incoming: Incoming, private readonly deps: ApiEndpointDeps) {}

  send(status: number, body: unknown, options: { route?: ApiRoute; caller?: ApiCaller; headers?: Record<string, string>; close?: boolean; replayed?: boolean } = {}): void {
    if (this.sent) return;
    this.sent = true;
    const { metrics, log } = this.deps;
    metrics.inc('api_requests_total');
    if (status >= 400) metrics.inc('api_requests_failed_total');
    if (options.replayed === true) metrics.inc('api_idempotent_replays_total');
    // Never the key, never the content: the route pattern (not the path, which names users) and a key fingerprint.
    if (log.isLevelEnabled('info')) log.info({
      route: options.route === undefined ? `${this.incoming.method} (no route)` : `${options.route.method} ${API_PREFIX}${options.route.path}`,
      key: options.caller?.fingerprint,
      status,
      ms: Math.round((performance.now() - this.incoming.started) * 10) / 10,
      ...(options.replayed === true ? { replayed: true } : {}),
    }, 'api');
    if (this.aborted) return;
    const { bytes, contentType } = encodeAnswer(body, this.incoming.format);
    this.res.cork(() => {
      this.res.writeStatus(statusLine(status)).writeHeader('content-type', contentType);
      for (const [name, value] of Object.entries(options.headers ?? {})) this.res.writeHeader(name, value);
      this.res.end(bytes, options.close === true || this.closeAfter);
    });
  }

  error(err: GatewayError, options: { route?: ApiRoute; caller?: ApiCaller; headers?: Record<string, string>; close?: boolean } = {}): void {
    const headers = { ...options.headers };
    const retry = err.details?.['retryAfterMs'];
    if (typeof retry === 'number') headers['retry-after'] = String(Math.max(1, Math.ceil(retry / 1000)));
    this.send(err.httpStatus, { error: err.toJSON() }, { ...options, headers });
  }
}

/**
 * Serves the route table under /api/v1 on the gateway's uWS app: route match (404,
 * 405 with Allow), API key, body (413 as soon as the declared or received length
 * passes Http.MaxBodyBytes, without buffering the rest), decoding, Idempotency-Key,
 * the handler, and the answer in JSON or MessagePack. Register before the catch-all 404.
 */
export function attachApi(app: TemplatedApp, deps: ApiEndpointDeps): void {
  const handler = (res: HttpResponse, req: HttpRequest): void => handle(res, req, deps);
  app.any(API_PREFIX, handler);
  app.any(`${API_PREFIX}/*`, handler);
}

function readIncoming(req: HttpRequest): Incoming {
  const lengthHeader = req.getHeader('content-length');
  const contentLength = lengthHeader === '' ? undefined : Number(lengthHeader);
  const url = req.getUrl();
  return {
    method: req.getCaseSensitiveMethod().toUpperCase(),
    path: url.slice(API_PREFIX.length) || '/',
    query: req.getQuery() ?? '',
    authorization: req.getHeader('authorization'),
    apiKey: req.getHeader('x-api-key'),
    contentType: req.getHeader('content-type'),
    contentLength,
    hasBody: (contentLength !== undefined && contentLength > 0) || req.getHeader('transfer-encoding') !== '',
    idempotencyKey: req.getHeader('idempotency-key'),
    format: answerFormat(req.getHeader('accept')),
    started: performance.now(),
  };
}

function handle(res: HttpResponse, req: HttpRequest, deps: ApiEndpointDeps): void {
  // First of all: after an abort `res` must not be touched, and the handler goes async.
  // uWS reports an abort only after this function returned, when `reply` exists.
  res.onAborted(() => {
    reply.aborted = true;
  });
  const incoming = readIncoming(req);
  const reply = new Reply(res, incoming, deps);
  // Answering before the body was read: close the connection, the unread rest is garbage to it.
  const close = incoming.hasBody;

  const match = deps.router.match(incoming.method, incoming.path);
  if (!match.ok) {
    reply.error(match.error, { close, ...(match.allow !== undefined ? { headers: { allow: match.allow } } : {}) });
    return;
  }
  const { route, params } = match;
  let caller: ApiCaller;
  try {
    caller = deps.keys.authenticate(incoming.authorization, incoming.apiKey);
  } catch (err) {
    reply.error(toGatewayError(err), { route, close });
    return;
  }
  const query = new URLSearchParams(incoming.query);
  if (route.body === undefined) {
    reply.closeAfter = incoming.hasBody;
    void run(reply, route, caller, { params, query, body: {} }, deps);
    return;
  }

  let format: BodyFormat;
  let idempotencyKey: string | undefined;
  try {
    format = bodyFormat(incoming.contentType);
    if (incoming.idempotencyKey !== '') idempotencyKey = IdempotencyGuard.parseKey(incoming.idempotencyKey);
  } catch (err) {
    reply.error(toGatewayError(err), { route, caller, close });
    return;
  }
  if (incoming.contentLength !== undefined && incoming.contentLength > deps.maxBodyBytes) {
    reply.error(tooLarge(incoming.contentLength, deps.maxBodyBytes, 'declared'), { route, caller, close: true });
    return;
  }
  readBody(res, deps.maxBodyBytes, (received) => {
    reply.error(tooLarge(received, deps.maxBodyBytes, 'received'), { route, caller, close: true });
  }, (bytes) => {
    let body: Record<string, unknown>;
    try {
      body = decodeBody(bytes, format, deps.bodyLimits);
    } catch (err) {
      reply.error(toGatewayError(err), { route, caller });
      return;
    }
    const once = idempotencyKey === undefined
      ? undefined
      : { key: idempotencyKey, fingerprint: requestFingerprint(route.method, incoming.path, format, bytes) };
    void run(reply, route, caller, { params, query, body }, deps, once);
  });
}

function tooLarge(bytes: number, max: number, how: string): GatewayError {
  return new GatewayError('TOO_LARGE', `request body: ${bytes} bytes ${how}, more than Http.MaxBodyBytes (${max})`);
}

/**
 * Streams the body into copies of uWS's chunks (each chunk's ArrayBuffer is reused by
 * uWS after the callback) and calls `onTooLarge` as soon as more than `max` bytes
 * arrived, dropping what it held; nothing is read after that.
 */
function readBody(res: HttpResponse, max: number, onTooLarge: (received: number) => void, onBody: (bytes: Buffer) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let done = false;
  res.onData((chunk, isLast) => {
    if (done) return;
    size += chunk.byteLength;
    if (size > max) {
      done = true;
      chunks.length = 0;
      onTooLarge(size);
      return;
    }
    if (chunk.byteLength > 0) chunks.push(Buffer.from(new Uint8Array(chunk)));
    if (isLast) {
      done = true;
      onBody(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    }
  });
}

/** Runs the handler (through the idempotency guard when the request has a key) and answers. Never rejects. */
async function run(
  reply: Reply,
  route: ApiRoute,
  caller: ApiCaller,
  request: ApiRequest,
  deps: ApiEndpointDeps,
  once?: { key: string; fingerprint: string },
): Promise<void> {
  const execute = async (): Promise<StoredAnswer> => {
    try {
      return { status: 200, body: await route.handle(request) };
    } catch (err) {
      const gatewayError = toGatewayError(err);
      if (gatewayError.code === 'INTERNAL') deps.log.error({ err, route: route.path }, 'API handler failed');
      return { status: gatewayError.httpStatus, body: { error: gatewayError.toJSON() } };
    }
  };
  try {
    if (once === undefined) {
      const answer = await execute();
      reply.send(answer.status, answer.body, { route, caller });
      return;
    }
    const answer = await deps.idempotency.run(caller.scope, once.key, once.fingerprint, execute);
    reply.send(answer.status, answer.body, {
      route,
      caller,
      replayed: answer.replayed,
      headers: answer.replayed ? { 'idempotent-replayed': 'true' } : {},
    });
  } catch (err) {
    const gatewayError = toGatewayError(err);
    if (gatewayError.code === 'INTERNAL') deps.log.error({ err, route: route.path }, 'API request failed');
    reply.error(gatewayError, { route, caller });
  }
}
