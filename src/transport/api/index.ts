import type { TemplatedApp } from 'uWebSockets.js';
import type { Logger } from 'pino';
import type { HttpConfig } from '../../config.js';
import type { IdempotencyStore } from '../../engine/idempotency.js';
import type { CodecLimits } from '../../protocol/validate.js';
import { ApiKeys } from './api-keys.js';
import { attachApi } from './endpoint.js';
import { IdempotencyGuard } from './idempotency.js';
import { Router } from './router.js';
import { apiRoutes } from './routes.js';
import type { ApiServices } from './services.js';

export { apiRoutes } from './routes.js';
export type { ApiServices } from './services.js';

/**
 * The backend HTTP API (docs/api.md): builds the route table over the gateway's
 * services and serves it under /api/v1. With Http.Enable false nothing is registered,
 * so the paths fall through to the catch-all 404. Returns the router (tests walk its
 * routes).
 */
export function attachHttpApi(app: TemplatedApp, options: {
  http: HttpConfig;
  codecLimits: CodecLimits;
  services: ApiServices;
  idempotency: IdempotencyStore;
  log: Logger;
}): Router | undefined {
  const { http, services, log } = options;
  if (!http.enable) return undefined;
  const router = new Router(apiRoutes(services));
  attachApi(app, {
    router,
    keys: new ApiKeys(http.apiKeys),
    idempotency: new IdempotencyGuard(options.idempotency, http.idempotencyTtl, log),
    maxBodyBytes: http.maxBodyBytes,
    // A body is a frame without its envelope: one level less of nesting to spend.
    bodyLimits: { ...options.codecLimits, maxDepth: Math.max(1, options.codecLimits.maxDepth - 1) },
    metrics: services.metrics,
    log,
  });
  if (http.apiKeys.length === 0) log.warn('Http.ApiKeys is empty: every /api/v1 route answers 401 until a key is set');
  return router;
}
