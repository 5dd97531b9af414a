/**
 * The shape of one HTTP API route. The route table (routes.ts) is the single source
 * for the router and the OpenAPI document, so the two cannot drift apart.
 */
import type { GatewayError } from '../../errors.js';

export type Method = 'GET' | 'POST' | 'DELETE';

/** A JSON Schema (2020-12, as OpenAPI 3.1 uses it). */
export type Schema = Record<string, unknown>;

/** What a handler gets: decoded path parameters, the query string and the decoded body. */
export interface ApiRequest {
  /** Path parameters, URL-decoded (`/groups/live%3A7/publish` gives `{ group: 'live:7' }`). */
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** The body as a checked plain object ({} when empty); only for routes with `body`. */
  readonly body: Readonly<Record<string, unknown>>;
}

export interface QueryParam {
  name: string;
  required: boolean;
  description: string;
  schema: Schema;
}

export interface ApiRoute {
  method: Method;
  /** Path under /api/v1 with `{name}` parameters, e.g. `/groups/{group}/publish`. */
  path: string;
  /** Stable identifier (OpenAPI operationId). */
  operationId: string;
  summary: string;
  description?: string;
  /** Description and schema of each path parameter, by name. */
  params?: Record<string, { description: string; schema: Schema }>;
  query?: QueryParam[];
  /** Schema of the request body; routes without one never read a body. */
  body?: Schema;
  /** Schema of the 200 answer. */
  answer: Schema;
  /** Error codes this route can answer besides the ones every route can (401, 404, 405). */
  errors: readonly GatewayError['code'][];
  handle(req: ApiRequest): Promise<unknown>;
}

/** Every API path starts with this. */
export const API_PREFIX = '/api/v1';
