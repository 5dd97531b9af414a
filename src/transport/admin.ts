import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TemplatedApp } from 'uWebSockets.js';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics/registry.js';

/** The admin page's files, in the repository (no build step): admin/ at the root, beside src/ and dist/. */
const ADMIN_DIR = fileURLToPath(new URL('../../admin/', import.meta.url));

interface Asset {
  path: string;
  file: string;
  type: string;
}

const TYPES = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' } as const;

/**
 * The page may talk only to this gateway and load only its own files. uPlot sizes its
 * elements through inline styles, hence 'unsafe-inline' for styles (never for scripts).
 */
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

function assets(): Asset[] {
  const require = createRequire(import.meta.url);
  const uplotDir = dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));
  return [
    { path: '/admin', file: `${ADMIN_DIR}index.html`, type: TYPES.html },
    { path: '/admin/', file: `${ADMIN_DIR}index.html`, type: TYPES.html },
    { path: '/admin/admin.js', file: `${ADMIN_DIR}admin.js`, type: TYPES.js },
    { path: '/admin/admin.css', file: `${ADMIN_DIR}admin.css`, type: TYPES.css },
    { path: '/admin/vendor/uPlot.iife.min.js', file: join(uplotDir, 'uPlot.iife.min.js'), type: TYPES.js },
    { path: '/admin/vendor/uPlot.min.css', file: join(uplotDir, 'uPlot.min.css'), type: TYPES.css },
  ];
}

/**
 * GET /admin: the live admin page (admin/index.html, admin.js, admin.css) and the
 * uPlot charting library from node_modules. The files are public and read once at
 * start-up; everything they show comes from /api/v1 with the API key the operator
 * types in (kept in sessionStorage, sent as a header, never in a URL).
 */
export function attachAdmin(app: TemplatedApp, deps: { metrics: Metrics; log: Logger }): void {
  for (const asset of assets()) {
    let body: Buffer;
    try {
      body = readFileSync(asset.file);
    } catch (err) {
      // A packaging mistake must not stop the gateway: the page answers 503 saying why.
      deps.log.error({ err, file: asset.file }, 'admin page file missing: /admin is unavailable');
      const reason = JSON.stringify({ error: { code: 'UNAVAILABLE', message: `admin page file missing: ${asset.path}` } });
      app.get(asset.path, (res) => {
        deps.metrics.inc('http_requests_total');
        res.cork(() => res.writeStatus('503 Service Unavailable').writeHeader('content-type', 'application/json').end(reason));
      });
      continue;
    }
    app.get(asset.path, (res) => {
      deps.metrics.inc('http_requests_total');
      res.cork(() => {
        res.writeStatus('200 OK').writeHeader('content-type', asset.type);
        for (const [key, value] of Object.entries(SECURITY_HEADERS)) res.writeHeader(key, value);
        res.end(body);
      });
    });
  }
}
