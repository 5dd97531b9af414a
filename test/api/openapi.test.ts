import t from 'tap';
import { startGateway } from '../helpers/gateway.js';
import { API_KEY, call } from '../helpers/api.js';

/**
 * The OpenAPI document against the routes the app actually serves: every registered
 * route must be documented, every documented operation must be served (probed over
 * HTTP, so a route left out of the router is caught too).
 */
t.test('the OpenAPI document and the served routes match both ways', async (t) => {
  const g = await startGateway(t, { Http: { ApiKeys: [API_KEY] } });
  const router = g.gateway.apiRouter;
  if (router === undefined) throw new Error('the API is enabled, so the gateway has a router');
  const doc = (await call(g.httpUrl, 'GET', '/api/v1/openapi.json')).body;
  t.equal(doc.openapi, '3.1.0');
  t.ok(doc.components.securitySchemes.bearer && doc.components.securitySchemes.apiKey, 'both auth schemes are described');

  const registered = new Set(router.routes.map((r) => `${r.method} /api/v1${r.path}`));
  const documented = new Set<string>();
  for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
    for (const [method, op] of Object.entries(item)) {
      documented.add(`${method.toUpperCase()} ${path}`);
      t.ok(op.operationId && op.summary, `${method} ${path}: operationId and summary`);
      t.ok(op.responses['200'], `${method} ${path}: the 200 answer is described`);
      t.ok(op.responses['401'], `${method} ${path}: 401 is described`);
      const params = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      const declared = (op.parameters ?? []).filter((p: { in: string }) => p.in === 'path').map((p: { name: string }) => p.name);
      t.same(declared, params, `${method} ${path}: every path parameter is declared`);
      if (method === 'post') t.ok(op.requestBody?.content?.['application/json'] && op.requestBody.content['application/msgpack'], `${method} ${path}: body in JSON and MessagePack`);
    }
  }
  for (const route of registered) t.ok(documented.has(route), `registered route ${route} is documented`);
  for (const op of documented) t.ok(registered.has(op), `documented route ${op} is registered`);
  t.equal(registered.size, 10, 'the ten routes of the issue');

  // Walk the documented operations over HTTP: each is served (not 404/405), with an
  // example value for each parameter.
  for (const op of documented) {
    const [method, path] = op.split(' ') as [string, string];
    const concrete = path.replace(/\{(\w+)\}/g, 'x');
    const query = path === '/api/v1/presence' ? '?users=x' : '';
    const answer = await call(g.httpUrl, method, concrete + query, method === 'POST' ? { body: {} } : {});
    t.not(answer.status, 404, `${op} is served`);
    t.not(answer.status, 405, `${op} accepts its method`);
  }
});
