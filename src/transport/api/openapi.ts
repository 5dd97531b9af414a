import { ERRORS, type ErrorCode } from '../../errors.js';
import { API_PREFIX, type ApiRoute, type Schema } from './route.js';

const ERROR_SCHEMA: Schema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: Object.keys(ERRORS), description: 'Stable error code (docs/protocol.md)' },
        message: { type: 'string', description: 'What went wrong, naming the field for bad input' },
      },
      additionalProperties: true,
    },
  },
};

const MEDIA = ['application/json', 'application/msgpack'] as const;

function media(schema: Schema): Record<string, { schema: Schema }> {
  return Object.fromEntries(MEDIA.map((type) => [type, { schema }]));
}

/** Every route can answer these besides its own errors: no or a wrong key. */
const COMMON_ERRORS: readonly ErrorCode[] = ['UNAUTHORIZED'];

function operation(route: ApiRoute): Record<string, unknown> {
  const parameters: unknown[] = [];
  for (const [name, p] of Object.entries(route.params ?? {})) {
    parameters.push({ name, in: 'path', required: true, description: p.description, schema: p.schema });
  }
  for (const q of route.query ?? []) parameters.push({ name: q.name, in: 'query', required: q.required, description: q.description, schema: q.schema });
  if (route.method === 'POST') {
    parameters.push({
      name: 'Idempotency-Key',
      in: 'header',
      required: false,
      description: 'Makes a retry safe: the same key (per API key, kept for Http.IdempotencyTtl) returns the first answer and '
        + 'delivers nothing again; with another body it is 409; while the first request still runs it is 409 with Retry-After.',
      schema: { type: 'string', minLength: 1, maxLength: 255 },
    });
  }
  const responses: Record<string, unknown> = { 200: { description: 'Success', content: media(route.answer) } };
  for (const code of [...COMMON_ERRORS, ...route.errors]) {
    const status = String(ERRORS[code].http);
    const existing = responses[status] as { description: string } | undefined;
    responses[status] = { description: existing === undefined ? code : `${existing.description}, ${code}`, content: media({ $ref: '#/components/schemas/Error' }) };
  }
  return {
    operationId: route.operationId,
    summary: route.summary,
    ...(route.description !== undefined ? { description: route.description } : {}),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(route.body !== undefined ? { requestBody: { required: true, content: media(route.body) } } : {}),
    responses,
  };
}

/**
 * The OpenAPI 3.1 document of the API, built from the route table the router serves,
 * so every served route is documented and every documented route is served.
 */
export function openApiDocument(routes: readonly ApiRoute[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = API_PREFIX + route.path;
    (paths[path] ??= {})[route.method.toLowerCase()] = operation(route);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Switchboard backend HTTP API',
      version,
      description: 'Push, publish, presence and connection control for business services. Bodies and answers are JSON, or '
        + 'MessagePack with Content-Type/Accept application/msgpack. See docs/api.md.',
    },
    security: [{ bearer: [] }, { apiKey: [] }],
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <one of Http.ApiKeys>' },
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
      },
      schemas: { Error: ERROR_SCHEMA },
    },
  };
}
