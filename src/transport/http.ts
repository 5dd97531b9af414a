import type { HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { GatewayError } from '../errors.js';
import type { Metrics } from '../metrics/registry.js';

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK', 202: '202 Accepted', 400: '400 Bad Request', 401: '401 Unauthorized', 403: '403 Forbidden',
  404: '404 Not Found', 405: '405 Method Not Allowed', 409: '409 Conflict', 413: '413 Payload Too Large', 415: '415 Unsupported Media Type', 422: '422 Unprocessable Entity',
  426: '426 Upgrade Required', 429: '429 Too Many Requests', 500: '500 Internal Server Error', 503: '503 Service Unavailable',
};

export function statusLine(status: number): string {
  return STATUS_TEXT[status] ?? `${status} Status`;
}

/**
 * Writes a JSON response. Call inside the handler's synchronous part or, after an
 * await, only when the response was not aborted; corks so headers and body leave in
 * one write.
 */
export function sendJson(res: HttpResponse, status: number, body: unknown, headers: Record<string, string> = {}, closeConnection = false): void {
  res.cork(() => {
    res.writeStatus(statusLine(status)).writeHeader('content-type', 'application/json');
    for (const [key, value] of Object.entries(headers)) res.writeHeader(key, value);
    res.end(JSON.stringify(body), closeConnection);
  });
}

/**
 * Answers with an error's HTTP status and `{ error: { code, message, ... } }`. A
 * refused WebSocket upgrade also closes the connection: the client will not reuse it.
 */
export function sendError(res: HttpResponse, err: GatewayError, closeConnection = false, extraHeaders: Record<string, string> = {}): void {
  const headers: Record<string, string> = { ...extraHeaders };
  const retry = err.details?.['retryAfterMs'];
  if (typeof retry === 'number') headers['retry-after'] = String(Math.max(1, Math.ceil(retry / 1000)));
  sendJson(res, err.httpStatus, { error: err.toJSON() }, headers, closeConnection);
}

export interface HealthSources {
  metrics: Metrics;
  /** Null when ready; otherwise why not (e.g. Redis unreachable). */
  notReadyReason: () => string | null;
}

/** Registers the operational routes and a JSON 404 for everything else. */
export function attachOperationalRoutes(app: TemplatedApp, sources: HealthSources): void {
  app.get('/healthz', (res) => {
    sources.metrics.inc('http_requests_total');
    sendJson(res, 200, { status: 'ok' });
  });
  // Load balancers often probe with HEAD: same status, no body.
  app.head('/healthz', (res) => {
    sources.metrics.inc('http_requests_total');
    res.cork(() => res.writeStatus('200 OK').writeHeader('content-type', 'application/json').endWithoutBody(0));
  });
  app.get('/readyz', (res) => {
    sources.metrics.inc('http_requests_total');
    const reason = sources.notReadyReason();
    if (reason === null) sendJson(res, 200, { status: 'ready' });
    else sendJson(res, 503, { status: 'not-ready', reason });
  });
  app.head('/readyz', (res) => {
    sources.metrics.inc('http_requests_total');
    const status = sources.notReadyReason() === null ? 200 : 503;
    res.cork(() => res.writeStatus(statusLine(status)).writeHeader('content-type', 'application/json').endWithoutBody(0));
  });
  app.get('/metrics', (res) => {
    sources.metrics.inc('http_requests_total');
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    sources.metrics.render().then(
      (text) => {
        if (aborted) return;
        res.cork(() => {
          res.writeStatus('200 OK').writeHeader('content-type', sources.metrics.contentType).end(text);
        });
      },
      (err: unknown) => {
        if (!aborted) sendJson(res, 500, { error: { code: 'INTERNAL', message: `metrics collection failed: ${err instanceof Error ? err.message : String(err)}` } });
      },
    );
  });
}

/**
 * A plain GET of the WebSocket path (a browser tab, curl, a misconfigured proxy that
 * dropped the Upgrade header): 426 with `Upgrade: websocket`, not a puzzling 404.
 * uWS hands a request without a WebSocket handshake on to the next matching route.
 */
export function attachUpgradeRequired(app: TemplatedApp, path: string): void {
  app.get(path, (res) => {
    sendError(res, new GatewayError('UPGRADE_REQUIRED', `${path} is the WebSocket endpoint: send a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket)`), false, { upgrade: 'websocket', connection: 'Upgrade' });
  });
}

/** The last route: anything unmatched gets a JSON 404. Register after every other route. */
export function attachNotFound(app: TemplatedApp): void {
  app.any('/*', (res, req) => {
    sendJson(res, 404, { error: { code: 'NOT_FOUND', message: `no route for ${req.getMethod().toUpperCase()} ${req.getUrl()}` } });
  });
}
