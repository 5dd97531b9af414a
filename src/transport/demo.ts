import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import type { HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { isUserId } from '../protocol/validate.js';
import { sendJson } from './http.js';

/**
 * The demo chat page (`Demo.Enable`): static files from the repository's `demo/`
 * directory and the compiled client SDK from `dist/client/`, with no bundler in
 * between, so the page runs exactly the SDK that applications import. Both paths are
 * resolved from this file, which sits two levels below the repository root whether it
 * runs from src/ (tests) or dist/ (npm start).
 */
const ROOT = new URL('../../', import.meta.url);
const PAGE_DIR = fileURLToPath(new URL('demo/', ROOT));
const SDK_DIR = fileURLToPath(new URL('dist/client/', ROOT));

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  map: 'application/json',
};
/** Only plain file names: nothing with a slash or dots beyond the extension reaches the file system. */
const PAGE_FILE = /^[a-z0-9-]+\.(html|js|css)$/;
const SDK_FILE = /^[a-z0-9-]+\.js(\.map)?$/;
/** Demo tokens live an hour; the page fetches a new one at every reconnect (getToken). */
const DEMO_TOKEN_TTL_S = 3600;

export interface DemoOptions {
  /**
   * The development secret, when it is the configured Auth.Secret: only then does
   * `/demo/token?user=` exist, since anyone can sign tokens with a public secret anyway.
   */
  devSecret: string | undefined;
}

export function attachDemo(app: TemplatedApp, opts: DemoOptions): void {
  const serve = (res: HttpResponse, dir: string, name: string, pattern: RegExp): void => {
    if (!pattern.test(name)) {
      sendJson(res, 404, { error: { code: 'NOT_FOUND', message: `no demo file ${name}` } });
      return;
    }
    let body: Buffer;
    try {
      body = readFileSync(dir + name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      const hint = dir === SDK_DIR ? ' (the client SDK is not built: run npm run build)' : '';
      sendJson(res, 404, { error: { code: 'NOT_FOUND', message: `no demo file ${name}${hint}` } });
      return;
    }
    const ext = name.slice(name.lastIndexOf('.') + 1);
    res.cork(() => {
      res.writeStatus('200 OK').writeHeader('content-type', TYPES[ext] ?? 'application/octet-stream')
        .writeHeader('cache-control', 'no-cache').end(body);
    });
  };

  app.get('/demo', (res) => serve(res, PAGE_DIR, 'index.html', PAGE_FILE));
  app.get('/demo/', (res) => serve(res, PAGE_DIR, 'index.html', PAGE_FILE));
  app.get('/demo/sdk/:file', (res, req) => serve(res, SDK_DIR, req.getParameter(0) ?? '', SDK_FILE));

  const secret = opts.devSecret;
  if (secret !== undefined) {
    const key = new TextEncoder().encode(secret);
    app.get('/demo/token', (res, req) => {
      const user = new URLSearchParams(req.getQuery() ?? '').get('user');
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      if (user === null || !isUserId(user) || user === 'system') {
        sendJson(res, 400, { error: { code: 'BAD_REQUEST', message: 'user: expected a user id (1-128 chars of letters, digits, _-.:@), not "system"' } });
        return;
      }
      new SignJWT({ groups: ['demo:*'] })
        .setProtectedHeader({ alg: 'HS256' }).setSubject(user).setIssuedAt().setExpirationTime(`${DEMO_TOKEN_TTL_S}s`)
        .sign(key)
        .then(
          (token) => {
            if (!aborted) sendJson(res, 200, { token, user, expiresIn: DEMO_TOKEN_TTL_S });
          },
          (err: unknown) => {
            if (!aborted) sendJson(res, 500, { error: { code: 'INTERNAL', message: `could not sign a demo token: ${String(err)}` } });
          },
        );
    });
  }
  app.get('/demo/:file', (res, req) => serve(res, PAGE_DIR, req.getParameter(0) ?? '', PAGE_FILE));
}
