import { timingSafeEqual } from 'node:crypto';
import type { JWTPayload } from 'jose';
import { HmacKey } from './hmac.js';

/**
 * Synchronous verification of HS256/384/512 compact JWTs with node:crypto, for the
 * upgrade path: jose verifies through WebCrypto, whose per-call job and promise cost
 * several times the HMAC itself (most of an upgrade's CPU when profiled).
 *
 * Contract: for every token, the same accept/refuse decision and the same refusal
 * reason as `jwtVerify` of jose with the options the Authenticator passes it
 * (algorithms pinned, issuer, audience, clock tolerance in whole seconds), check for
 * check and in jose's order:
 * 1. three dot-separated parts; the header is base64url JSON, a plain object;
 * 2. `crit`: only `b64` is understood, and `b64: false` (unencoded payload) is refused;
 * 3. `alg` present and in the pinned list (`none` never is: the list holds HS* only);
 *    `kid` is ignored, as jose's key resolver for a shared secret ignores it;
 * 4. the signature is base64url of exactly the MAC's length and equal in constant time;
 * 5. the payload is strict UTF-8 JSON, a plain object; `iss` then `aud` present when
 *    configured and matching; `iat`, `nbf`, `exp` numbers when present; `nbf` not after
 *    now + tolerance; `exp` after now - tolerance (seconds, now rounded down).
 * One difference, stricter on purpose: base64url parts must use only the base64url
 * alphabet without padding or whitespace (jose tolerates what `atob` tolerates).
 * Refusals are returned as a value, never thrown.
 */
export type HmacVerdict =
  | { ok: true; payload: JWTPayload }
  | { ok: false; reason: string };

export interface HmacJwtSettings {
  secret: string;
  algorithms: readonly string[];
  issuer?: string | undefined;
  audience?: string | undefined;
  /** Allowed clock skew in milliseconds; rounded to whole seconds as jose is given it. */
  clockTolerance: number;
}

const HASHES: Readonly<Record<string, string>> = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' };

/** Base64url without padding: what RFC 7515 compact serialization allows. */
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const NON_ASCII = /[^\x00-\x7f]/;

/** Base64url alphabet, no padding, and a length that can be decoded (never 1 mod 4). */
function isBase64url(part: string): boolean {
  return part.length % 4 !== 1 && BASE64URL.test(part);
}
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

// The reasons Authenticator's describeJoseError gives for the same jose errors.
const JWS_INVALID = 'invalid token (ERR_JWS_INVALID)';
const JWT_INVALID = 'invalid token (ERR_JWT_INVALID)';
const NOT_SUPPORTED = 'invalid token (ERR_JOSE_NOT_SUPPORTED)';
const ALG_NOT_ALLOWED = 'token algorithm not allowed';
const BAD_SIGNATURE = 'bad token signature';

function refuse(reason: string): HmacVerdict {
  return { ok: false, reason };
}

function claimFailed(claim: string, reason: 'missing' | 'invalid' | 'check_failed'): HmacVerdict {
  return refuse(`token claim ${claim} invalid (${reason})`);
}

/** jose's isObject: a plain object (its prototype Object.prototype or null). */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Object.prototype.toString.call(value) !== '[object Object]') return false;
  const proto = Object.getPrototypeOf(value) as object | null;
  return proto === null || Object.getPrototypeOf(proto) === null;
}

/** Decodes a base64url JSON part; undefined when not base64url, not UTF-8, not JSON or not a plain object. */
function jsonPart(part: string): Record<string, unknown> | undefined {
  if (!isBase64url(part)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(strictUtf8.decode(Buffer.from(part, 'base64url')));
  } catch (err) {
    // Not UTF-8 or not JSON: a malformed token, which the caller refuses; nothing else can throw here.
    if (err instanceof SyntaxError || err instanceof TypeError) return undefined;
    throw err;
  }
  return isPlainObject(parsed) ? parsed : undefined;
}

/**
 * Decoded headers kept per verifier. A deployment's tokens share one or two header
 * texts (`{"alg":"HS256","typ":"JWT"}`), and decoding it (base64url, strict UTF-8,
 * JSON) was a fifth of the check; distinct headers beyond this many clear the cache.
 */
const HEADER_CACHE_SIZE = 32;

/** See HmacVerdict for the contract. Its settings are fixed at construction; one per Authenticator. */
export class HmacJwtVerifier {
  /** One per allowed (pinned) algorithm, keyed by `alg`: an `alg` not here is not allowed. */
  readonly #keys = new Map<string, HmacKey>();
  /** Header part -> its decoded object (frozen: verify only reads it). Valid headers only. */
  readonly #headers = new Map<string, Readonly<Record<string, unknown>>>();
  readonly #issuer: string | undefined;
  readonly #audience: string | undefined;
  readonly #toleranceSeconds: number;

  constructor(settings: HmacJwtSettings) {
    if (!settings.algorithms.every((alg) => alg in HASHES)) throw new Error('auth: the HMAC verifier handles only HS256, HS384 and HS512');
    const secret = Buffer.from(settings.secret, 'utf8');
    for (const alg of settings.algorithms) this.#keys.set(alg, new HmacKey(HASHES[alg]!, secret));
    this.#issuer = settings.issuer;
    this.#audience = settings.audience;
    this.#toleranceSeconds = Math.round(settings.clockTolerance / 1000);
  }

  /** `nowMs`: wall-clock milliseconds (default Date.now()). */
  verify(token: string, nowMs: number = Date.now()): HmacVerdict {
    const dot1 = token.indexOf('.');
    const dot2 = dot1 < 0 ? -1 : token.indexOf('.', dot1 + 1);
    if (dot2 < 0 || token.indexOf('.', dot2 + 1) >= 0) return refuse(JWS_INVALID);
    const header = this.#header(token.slice(0, dot1));
    if (header === undefined) return refuse(JWS_INVALID);
    const crit = header['crit'];
    let b64 = true;
    if (crit !== undefined) {
      if (!Array.isArray(crit) || crit.length === 0 || crit.some((p) => typeof p !== 'string' || p.length === 0)) return refuse(JWS_INVALID);
      for (const parameter of crit as string[]) {
        if (parameter !== 'b64') return refuse(NOT_SUPPORTED);
        if (header['b64'] === undefined) return refuse(JWS_INVALID);
      }
      if (typeof header['b64'] !== 'boolean') return refuse(JWS_INVALID);
      b64 = header['b64'];
    }
    const alg = header['alg'];
    if (typeof alg !== 'string' || alg.length === 0) return refuse(JWS_INVALID);
    const key = this.#keys.get(alg);
    if (key === undefined) return refuse(ALG_NOT_ALLOWED);
    const signingInput = token.slice(0, dot2);
    const payloadPart = token.slice(dot1 + 1, dot2);
    const signaturePart = token.slice(dot2 + 1);
    // jose's order: the payload must be ASCII to form the signing input, the signature
    // must decode, then the MAC; the payload's own encoding is looked at only after it.
    if (NON_ASCII.test(payloadPart)) return refuse(JWS_INVALID);
    if (!isBase64url(signaturePart)) return refuse(JWS_INVALID);
    const signature = Buffer.from(signaturePart, 'base64url');
    const expected = key.mac(signingInput);
    // A signature of another length cannot be equal (timingSafeEqual needs equal lengths).
    if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) return refuse(BAD_SIGNATURE);
    if (!b64) return refuse(JWT_INVALID); // JWTs must not use an unencoded payload
    if (!isBase64url(payloadPart)) return refuse(JWS_INVALID);
    const claims = jsonPart(payloadPart);
    if (claims === undefined) return refuse(JWT_INVALID);
    return this.#checkClaims(claims, nowMs);
  }

  /** jsonPart of a header part, from the cache when this text was decoded before. */
  #header(part: string): Readonly<Record<string, unknown>> | undefined {
    const cached = this.#headers.get(part);
    if (cached !== undefined) return cached;
    const header = jsonPart(part);
    if (header === undefined) return undefined;
    if (this.#headers.size >= HEADER_CACHE_SIZE) this.#headers.clear();
    this.#headers.set(part, Object.freeze(header));
    return header;
  }

  /** jose's validateClaimsSet with the options the Authenticator uses, in its order. */
  #checkClaims(claims: Record<string, unknown>, nowMs: number): HmacVerdict {
    if (this.#issuer !== undefined && !Object.hasOwn(claims, 'iss')) return claimFailed('iss', 'missing');
    if (this.#audience !== undefined && !Object.hasOwn(claims, 'aud')) return claimFailed('aud', 'missing');
    if (this.#issuer !== undefined && claims['iss'] !== this.#issuer) return claimFailed('iss', 'check_failed');
    if (this.#audience !== undefined) {
      const aud = claims['aud'];
      const matches = typeof aud === 'string' ? aud === this.#audience : Array.isArray(aud) && aud.includes(this.#audience);
      if (!matches) return claimFailed('aud', 'check_failed');
    }
    const now = Math.floor(nowMs / 1000);
    const tolerance = this.#toleranceSeconds;
    const iat = claims['iat'];
    if (iat !== undefined && typeof iat !== 'number') return claimFailed('iat', 'invalid');
    const nbf = claims['nbf'];
    if (nbf !== undefined) {
      if (typeof nbf !== 'number') return claimFailed('nbf', 'invalid');
      if (nbf > now + tolerance) return claimFailed('nbf', 'check_failed');
    }
    const exp = claims['exp'];
    if (exp !== undefined) {
      if (typeof exp !== 'number') return claimFailed('exp', 'invalid');
      if (exp <= now - tolerance) return refuse('token expired');
    }
    return { ok: true, payload: claims as JWTPayload };
  }
}
