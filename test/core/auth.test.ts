import { createHmac } from 'node:crypto';
import t from 'tap';
import { SignJWT } from 'jose';
import { Authenticator, type AuthSettings } from '../../src/core/auth.js';
import { GatewayError } from '../../src/errors.js';
import { TEST_SECRET } from '../helpers/tokens.js';

// One matrix, two HS* paths: the synchronous node:crypto verifier and jose. Every token
// must get the same verdict and the same refusal reason from both.

const b64url = (value: string | Buffer): string => Buffer.from(value).toString('base64url');
const now = (): number => Math.floor(Date.now() / 1000);

/** An HS* JWS built by hand so the test controls every byte. */
function handRolled(header: object | string, payload: object | string, opts: { key?: string; hash?: string; signature?: string } = {}): string {
  const part = (v: object | string): string => (typeof v === 'string' ? v : b64url(JSON.stringify(v)));
  const input = `${part(header)}.${part(payload)}`;
  const signature = opts.signature ?? createHmac(opts.hash ?? 'sha256', opts.key ?? TEST_SECRET).update(input).digest('base64url');
  return `${input}.${signature}`;
}

async function signed(claims: Record<string, unknown>, alg = 'HS256', secret = TEST_SECRET): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg }).sign(new TextEncoder().encode(secret));
}

type Outcome = { ok: true; userId: string; groups: readonly string[]; expiresAt: number | undefined } | { ok: false; code: string; reason: string };

async function outcome(auth: Authenticator, token: string): Promise<Outcome> {
  try {
    const p = await auth.verify(token);
    return { ok: true, userId: p.userId, groups: p.groups, expiresAt: p.expiresAt };
  } catch (err) {
    if (!(err instanceof GatewayError)) throw err;
    return { ok: false, code: err.code, reason: err.message };
  }
}

const settings: AuthSettings = { secret: TEST_SECRET, algorithms: ['HS256', 'HS384'], issuer: 'platform', audience: 'switchboard', clockTolerance: 5000 };
const good = { iss: 'platform', aud: 'switchboard' };

async function matrix(): Promise<[string, string, 'ok' | string][]> {
  const exp = now() + 600;
  return [
    // [name, token, expected: 'ok' or the refusal reason]
    ['valid HS256', await signed({ sub: 'u', groups: ['g'], exp, ...good }), 'ok'],
    ['valid HS384', await signed({ sub: 'u', exp, ...good }, 'HS384'), 'ok'],
    ['aud as a list', await signed({ sub: 'u', exp, iss: 'platform', aud: ['x', 'switchboard'] }), 'ok'],
    ['no exp', await signed({ sub: 'u', ...good }), 'ok'],
    ['kid is ignored', handRolled({ alg: 'HS256', kid: 'whatever' }, { sub: 'u', exp, ...good }), 'ok'],
    ['exp within the tolerance', handRolled({ alg: 'HS256' }, { sub: 'u', exp: now() - 2, ...good }), 'ok'],
    ['nbf within the tolerance', handRolled({ alg: 'HS256' }, { sub: 'u', nbf: now() + 2, ...good }), 'ok'],
    ['crit b64 true', handRolled({ alg: 'HS256', crit: ['b64'], b64: true }, { sub: 'u', ...good }), 'ok'],
    ['garbage', 'not-a-jwt', 'invalid token (ERR_JWS_INVALID)'],
    ['four parts', `${handRolled({ alg: 'HS256' }, { sub: 'u', ...good })}.x`, 'invalid token (ERR_JWS_INVALID)'],
    ['bad signature', await signed({ sub: 'u', exp, ...good }, 'HS256', 'another-secret-another-secret-another-secret!!'), 'bad token signature'],
    ['signature too short', handRolled({ alg: 'HS256' }, { sub: 'u', ...good }, { signature: b64url(Buffer.alloc(31)) }), 'bad token signature'],
    ['signature too long', handRolled({ alg: 'HS256' }, { sub: 'u', ...good }, { signature: b64url(Buffer.alloc(33)) }), 'bad token signature'],
    ['empty signature', handRolled({ alg: 'HS256' }, { sub: 'u', ...good }, { signature: '' }), 'bad token signature'],
    ['signature not base64url', handRolled({ alg: 'HS256' }, { sub: 'u', ...good }, { signature: '*'.repeat(43) }), 'invalid token (ERR_JWS_INVALID)'],
    ['header not base64url', handRolled('{"alg":"HS256"}', { sub: 'u', ...good }), 'invalid token (ERR_JWS_INVALID)'],
    ['header not JSON', handRolled(b64url('{alg:HS256}'), { sub: 'u', ...good }), 'invalid token (ERR_JWS_INVALID)'],
    ['header a list', handRolled(b64url('["HS256"]'), { sub: 'u', ...good }), 'invalid token (ERR_JWS_INVALID)'],
    ['payload not base64url', handRolled({ alg: 'HS256' }, '{"sub":"u"}'), 'invalid token (ERR_JWS_INVALID)'],
    ['payload not JSON', handRolled({ alg: 'HS256' }, b64url('sub=u')), 'invalid token (ERR_JWT_INVALID)'],
    ['payload not UTF-8', handRolled({ alg: 'HS256' }, b64url(Buffer.from([0x7b, 0xff, 0x7d]))), 'invalid token (ERR_JWT_INVALID)'],
    ['payload a number', handRolled({ alg: 'HS256' }, b64url('42')), 'invalid token (ERR_JWT_INVALID)'],
    ['alg none', `${b64url(JSON.stringify({ alg: 'none' }))}.${b64url(JSON.stringify({ sub: 'u', ...good }))}.`, 'token algorithm not allowed'],
    ['alg missing', handRolled({ typ: 'JWT' }, { sub: 'u', ...good }), 'invalid token (ERR_JWS_INVALID)'],
    ['alg not pinned (HS512)', handRolled({ alg: 'HS512' }, { sub: 'u', ...good }, { hash: 'sha512' }), 'token algorithm not allowed'],
    ['alg RS256 header on an HMAC', handRolled({ alg: 'RS256' }, { sub: 'u', ...good }), 'token algorithm not allowed'],
    ['alg header says HS384, signed HS256', handRolled({ alg: 'HS384' }, { sub: 'u', ...good }), 'bad token signature'],
    ['crit unknown', handRolled({ alg: 'HS256', crit: ['zip'], zip: 1 }, { sub: 'u', ...good }), 'invalid token (ERR_JOSE_NOT_SUPPORTED)'],
    ['crit empty', handRolled({ alg: 'HS256', crit: [] }, { sub: 'u', ...good }), 'invalid token (ERR_JWS_INVALID)'],
    ['crit b64 missing', handRolled({ alg: 'HS256', crit: ['b64'] }, { sub: 'u', ...good }), 'invalid token (ERR_JWS_INVALID)'],
    ['crit b64 false', handRolled({ alg: 'HS256', crit: ['b64'], b64: false }, { sub: 'u', ...good }), 'invalid token (ERR_JWT_INVALID)'],
    ['expired', handRolled({ alg: 'HS256' }, { sub: 'u', exp: now() - 3600, ...good }), 'token expired'],
    ['exp a string', handRolled({ alg: 'HS256' }, { sub: 'u', exp: String(exp), ...good }), 'token claim exp invalid (invalid)'],
    ['not yet valid', handRolled({ alg: 'HS256' }, { sub: 'u', nbf: now() + 3600, ...good }), 'token claim nbf invalid (check_failed)'],
    ['nbf a string', handRolled({ alg: 'HS256' }, { sub: 'u', nbf: 'soon', ...good }), 'token claim nbf invalid (invalid)'],
    ['iat a string', handRolled({ alg: 'HS256' }, { sub: 'u', iat: 'now', ...good }), 'token claim iat invalid (invalid)'],
    ['no issuer', handRolled({ alg: 'HS256' }, { sub: 'u', aud: 'switchboard' }), 'token claim iss invalid (missing)'],
    ['no issuer nor audience', handRolled({ alg: 'HS256' }, { sub: 'u' }), 'token claim iss invalid (missing)'],
    ['wrong issuer', await signed({ sub: 'u', iss: 'evil', aud: 'switchboard' }), 'token claim iss invalid (check_failed)'],
    ['no audience', handRolled({ alg: 'HS256' }, { sub: 'u', iss: 'platform' }), 'token claim aud invalid (missing)'],
    ['wrong audience', await signed({ sub: 'u', iss: 'platform', aud: 'other' }), 'token claim aud invalid (check_failed)'],
    ['wrong audience list', await signed({ sub: 'u', iss: 'platform', aud: ['a', 'b'] }), 'token claim aud invalid (check_failed)'],
    ['no sub', await signed({ ...good }), 'token sub is not a valid user id'],
    ['sub system', await signed({ sub: 'system', ...good }), 'token sub "system" is reserved for messages from the backend API'],
    ['empty', '', 'missing token'],
    ['16 KiB token', await signed({ sub: 'u', pad: 'x'.repeat(16 * 1024), ...good }), 'token too large'],
  ];
}

t.test('HS* tokens: node:crypto and jose give the same verdict and reason for every token', async (t) => {
  const fast = new Authenticator(settings);
  const reference = new Authenticator(settings, { hmac: 'jose' });
  for (const [name, token, expected] of await matrix()) {
    const [a, b] = [await outcome(fast, token), await outcome(reference, token)];
    t.same(a, b, `${name}: same outcome on both paths`);
    if (expected === 'ok') t.ok(a.ok, `${name}: accepted`);
    else t.same(a, { ok: false, code: 'UNAUTHORIZED', reason: expected }, `${name}: refused with its reason`);
  }
});

t.test('HS*: without issuer, audience or tolerance configured, neither claim is required', async (t) => {
  const bare: AuthSettings = { secret: TEST_SECRET, algorithms: ['HS256'], clockTolerance: 0 };
  const fast = new Authenticator(bare);
  const reference = new Authenticator(bare, { hmac: 'jose' });
  const cases = [
    handRolled({ alg: 'HS256' }, { sub: 'u' }),
    handRolled({ alg: 'HS256' }, { sub: 'u', iss: 'any', aud: 'any' }),
    handRolled({ alg: 'HS256' }, { sub: 'u', exp: now() - 2 }),
    handRolled({ alg: 'HS256' }, { sub: 'u', nbf: now() + 2 }),
  ];
  const expected = [true, true, false, false];
  for (const [i, token] of cases.entries()) {
    const a = await outcome(fast, token);
    t.same(a, await outcome(reference, token), `case ${i}: same outcome`);
    t.equal(a.ok, expected[i], `case ${i}: ${expected[i] ? 'accepted' : 'refused'}`);
  }
});

t.test('HMAC verifier: a header decoded once is reused, and verdicts stay per token', async (t) => {
  const { HmacJwtVerifier } = await import('../../src/core/hmac-jwt.js');
  const verifier = new HmacJwtVerifier({ secret: TEST_SECRET, algorithms: ['HS256'], clockTolerance: 0 });
  const part = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const sign = (input: string): string => createHmac('sha256', TEST_SECRET).update(input).digest('base64url');
  const header = part({ alg: 'HS256', typ: 'JWT' });
  const exp = Math.floor(Date.now() / 1000) + 600;
  const good = (sub: string): string => {
    const input = `${header}.${part({ sub, exp })}`;
    return `${input}.${sign(input)}`;
  };
  t.match(verifier.verify(good('a')), { ok: true, payload: { sub: 'a' } });
  t.match(verifier.verify(good('b')), { ok: true, payload: { sub: 'b' } }, 'the same header, another payload');
  const [h, , s] = good('a').split('.');
  t.same(verifier.verify(`${h}.${part({ sub: 'mallory', exp })}.${s}`), { ok: false, reason: 'bad token signature' }, 'a cached header signs nothing');
  const none = part({ alg: 'none' });
  t.same(verifier.verify(`${none}.${part({ sub: 'a', exp })}.`), { ok: false, reason: 'token algorithm not allowed' });
  t.same(verifier.verify(`${none}.${part({ sub: 'a', exp })}.`), { ok: false, reason: 'token algorithm not allowed' }, 'twice: the cached header gives the same verdict');
  // More distinct headers than the cache holds: it starts over and keeps answering right.
  for (let i = 0; i < 40; i++) {
    const hi = part({ alg: 'HS256', typ: 'JWT', n: i });
    const input = `${hi}.${part({ sub: `u${i}`, exp })}`;
    t.equal(verifier.verify(`${input}.${sign(input)}`).ok, true);
  }
  t.match(verifier.verify(good('c')), { ok: true, payload: { sub: 'c' } });
});
