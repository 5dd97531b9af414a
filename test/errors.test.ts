import { readFileSync } from 'node:fs';
import t from 'tap';
import { ERRORS, CLOSE, GatewayError, toGatewayError } from '../src/errors.js';

const doc = readFileSync(new URL('../docs/protocol.md', import.meta.url), 'utf8');

t.test('every error code is documented in docs/protocol.md with its close code and HTTP status', async (t) => {
  for (const [code, def] of Object.entries(ERRORS)) {
    const row = doc.split('\n').find((line) => line.startsWith(`| \`${code}\``));
    t.ok(row, `${code} has a row in the error table`);
    t.match(row ?? '', new RegExp(`\\|\\s*${def.close}\\s*\\|`), `${code}: close code ${def.close} documented`);
    t.match(row ?? '', new RegExp(`\\|\\s*${def.http}\\s*\\|`), `${code}: HTTP status ${def.http} documented`);
  }
});

t.test('every close code the gateway uses is documented', async (t) => {
  for (const [name, code] of Object.entries(CLOSE)) t.match(doc, new RegExp(`\\|\\s*${code}\\s*\\|`), `close ${name} (${code}) documented`);
});

t.test('GatewayError carries code, close code, HTTP status and details', async (t) => {
  const err = new GatewayError('RATE_LIMITED', undefined, { retryAfterMs: 120 });
  t.equal(err.closeCode, 1008);
  t.equal(err.httpStatus, 429);
  t.same(err.toJSON(), { code: 'RATE_LIMITED', message: 'rate limit exceeded', retryAfterMs: 120 });
  t.equal(toGatewayError(new Error('secret internals')).code, 'INTERNAL');
  t.equal(toGatewayError(new Error('secret internals')).message, 'internal error', 'unknown errors leak nothing');
  t.equal(toGatewayError(err), err);
});
