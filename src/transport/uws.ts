import { createRequire } from 'node:module';

/**
 * Loads uWebSockets.js and proves that its native binary is what got loaded.
 *
 * The package silently falls back to a slow JavaScript implementation (built on
 * `ws`) when the binary for this platform and Node ABI fails to load. A gateway on
 * that fallback looks healthy and is an order of magnitude slower, so start-up
 * refuses it unless the operator opts in with SWITCHBOARD_ALLOW_UWS_FALLBACK=1.
 */
const require = createRequire(import.meta.url);

// uWS sizes its HTTP header buffer from this variable when the binary loads; the
// default (4 KiB) would reject large Authorization headers before our auth code can
// answer them with a clear 401, so raise it unless the operator chose a value.
process.env.UWS_HTTP_MAX_HEADERS_SIZE ??= '32768';

export type UwsModule = typeof import('uWebSockets.js');

const uws: UwsModule = require('uWebSockets.js');

/** True when the native binary (not the JavaScript fallback) backs the module. */
export function isNative(): boolean {
  const binaryLoaded = Object.keys(require.cache).some((file) => /uws_[a-z0-9_]+\.node$/.test(file));
  return binaryLoaded && typeof uws.SSLApp === 'function' && typeof (uws as unknown as { getParts?: unknown }).getParts === 'function';
}

export default uws;
