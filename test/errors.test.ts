import { readFileSync } from 'node:fs';
import t from 'tap';
import { ERRORS, CLOSE, GatewayError, toGatewayError } from '../src/errors.js';

const doc = readFileSync(new URL('../docs/protocol.md', import.meta.url), 'utf8');

/** The rows of the Markdown table that follows `heading`, each split into trimmed cells. */
function tableAfter(heading: string): string[][] {
  const lines = doc.split('\n');
  const start = lines.findIndex((line) => line.trim() === heading);
  if (start < 0) throw new Error(`docs/protocol.md has no "${heading}" section`);
  const rows: string[][] = [];
  let inTable = false;
  for (const line of lines.slice(start + 1)) {
    if (line.startsWith('|')) {
      inTable = true;
      rows.push(line.split('|').slice(1, -1).map((cell) => cell.trim()));
    } else if (inTable || line.startsWith('#')) {
      break;
    }
  }
  return rows.slice(2); // header and separator
}

t.test('every error code is documented in docs/protocol.md with its own close code and HTTP status', async (t) => {
  const rows = tableAfter('## Error codes');
  t.same(rows.map((r) => r[0]).sort(), Object.keys(ERRORS).map((c) => `\`${c}\``).sort(), 'the table lists exactly the registry\'s codes');
  for (const [code, def] of Object.entries(ERRORS)) {
    const row = rows.find((r) => r[0] === `\`${code}\``);
    t.equal(row?.[1], String(def.close), `${code}: close code ${def.close} in its own row`);
    t.equal(row?.[2], String(def.http), `${code}: HTTP status ${def.http} in its own row`);
  }
});

t.test('every close code the gateway uses has its own row in the close-code table', async (t) => {
  const documented = new Set(tableAfter('## Close codes').map((r) => r[0]));
  for (const [name, code] of Object.entries(CLOSE)) t.ok(documented.has(String(code)), `close ${name} (${code}) documented`);
  // A connection that cannot be set up is closed with its error's close code (Sessions.opened).
  t.ok(documented.has(String(ERRORS.UNAVAILABLE.close)), `close ${ERRORS.UNAVAILABLE.close} (UNAVAILABLE) documented`);
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
