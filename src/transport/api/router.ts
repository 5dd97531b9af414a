import { GatewayError } from '../../errors.js';
import { API_PREFIX, type ApiRoute } from './route.js';

export type RouteMatch =
  | { ok: true; route: ApiRoute; params: Record<string, string> }
  | { ok: false; error: GatewayError; allow?: string };

interface Compiled {
  route: ApiRoute;
  /** Literal segments, or `{name}` for a parameter. */
  segments: readonly ({ literal: string } | { param: string })[];
}

/**
 * Matches a method and a path (below /api/v1, still URL-encoded as uWS hands it over)
 * against the route table. Segments are compared before decoding, so an encoded `/`
 * (`%2F`) stays inside one parameter; each parameter is then URL-decoded. A path that
 * matches a route with another method answers 405 with `Allow`; no match is 404.
 */
export class Router {
  readonly #compiled: Compiled[];

  constructor(readonly routes: readonly ApiRoute[]) {
    this.#compiled = routes.map((route) => ({
      route,
      segments: split(route.path).map((s) => (/^\{\w+\}$/.test(s) ? { param: s.slice(1, -1) } : { literal: s })),
    }));
    const seen = new Set<string>();
    for (const r of routes) {
      const id = `${r.method} ${r.path}`;
      if (seen.has(id)) throw new Error(`duplicate API route ${id}`);
      seen.add(id);
    }
  }

  match(method: string, path: string): RouteMatch {
    const segments = split(path);
    const allowed: string[] = [];
    for (const { route, segments: pattern } of this.#compiled) {
      const raw = matchSegments(pattern, segments);
      if (raw === undefined) continue;
      if (route.method !== method) {
        allowed.push(route.method);
        continue;
      }
      const params: Record<string, string> = {};
      for (const [name, value] of Object.entries(raw)) {
        try {
          params[name] = decodeURIComponent(value);
        } catch (err) {
          if (!(err instanceof URIError)) throw err;
          return { ok: false, error: new GatewayError('BAD_REQUEST', `path.${name}: invalid percent-encoding`) };
        }
      }
      return { ok: true, route, params };
    }
    if (allowed.length > 0) {
      const allow = [...new Set(allowed)].sort().join(', ');
      return { ok: false, error: new GatewayError('METHOD_NOT_ALLOWED', `${method} is not allowed here; allowed: ${allow}`), allow };
    }
    return { ok: false, error: new GatewayError('NOT_FOUND', `no API route ${method} ${API_PREFIX}${path.length > 200 ? `${path.slice(0, 200)}…` : path}`) };
  }
}

function split(path: string): string[] {
  // A trailing slash is the same resource; empty segments in the middle are not.
  const trimmed = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  return trimmed.split('/').slice(1);
}

function matchSegments(pattern: Compiled['segments'], segments: readonly string[]): Record<string, string> | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    const s = segments[i]!;
    if ('literal' in p) {
      if (p.literal !== s) return undefined;
    } else {
      if (s === '') return undefined;
      params[p.param] = s;
    }
  }
  return params;
}
