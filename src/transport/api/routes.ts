import type { ApiRoute } from './route.js';
import type { ApiServices } from './services.js';
import { openApiDocument } from './openapi.js';
import { connectionRoutes } from './routes/connections.js';
import { messageRoutes } from './routes/messages.js';
import { presenceRoutes } from './routes/presence.js';
import { statsRoutes } from './routes/stats.js';

/** The version the OpenAPI document carries. */
export const API_VERSION = '1.0.0';

/**
 * The API's route table: what the router serves and what the OpenAPI document
 * describes (built from this same list, itself included).
 */
export function apiRoutes(services: ApiServices): ApiRoute[] {
  const routes: ApiRoute[] = [
    ...messageRoutes(services),
    ...presenceRoutes(services),
    ...connectionRoutes(services),
    ...statsRoutes(services),
  ];
  let document: Record<string, unknown> | undefined;
  routes.push({
    method: 'GET',
    path: '/openapi.json',
    operationId: 'getOpenApi',
    summary: 'This document: OpenAPI 3.1 of every route',
    answer: { type: 'object', description: 'An OpenAPI 3.1 document' },
    errors: [],
    // Built once, on first use: the table does not change after start-up.
    handle: async () => (document ??= openApiDocument(routes, API_VERSION)),
  });
  return routes;
}
