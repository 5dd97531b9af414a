import { createPublicKey, webcrypto } from 'node:crypto';
import { createLocalJWKSet, importSPKI, jwtVerify, errors as joseErrors, type JWTPayload, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { GatewayError } from '../errors.js';
import { isUserId } from '../protocol/validate.js';
import { HmacJwtVerifier } from './hmac-jwt.js';
import { SharedValues } from './shared-values.js';

/** What the gateway needs from the auth slice of the config. */
export interface AuthSettings {
  secret?: string | undefined;
  publicKeyPem?: string | undefined;
  jwks?: unknown;
  algorithms: readonly string[];
  issuer?: string | undefined;
  audience?: string | undefined;
  /** Allowed clock skew for exp/nbf, in milliseconds. */
  clockTolerance: number;
}

/**
 * Who a connection acts for, taken from a verified token. Immutable; a `refresh` frame
 * replaces a connection's Principal as a whole.
 */
export interface Principal {
  /** The token's `sub`. */
  readonly userId: string;
  /** Group names or patterns (`room:*`) the user may join, from the `groups` claim. */
  readonly groups: readonly string[];
  /** Permissions from the `perms` claim, e.g. `broadcast`. */
  readonly perms: ReadonlySet<string>;
  /** Group names or patterns the user may publish to where a rule says `Publish: claim`, from the `publish` claim. */
  readonly publish: readonly string[];
  /** Users this one may message under `DirectMessages: shared-group` without sharing a group, from the `contacts` claim. */
  readonly contacts: ReadonlySet<string>;
  /** The token's `exp` in wall-clock milliseconds; undefined when the token has none (it never expires a connection). */
  readonly expiresAt?: number | undefined;
}

/**
 * The sender id of messages from the backend HTTP API when it names none. No token may
 * carry it as `sub`, so a client can trust that a message `from: "system"` came from
 * the backend and not from a user who picked that name.
 */
export const SYSTEM_USER = 'system';

/** Tokens longer than this are refused before any crypto runs (cheap DoS guard). */
export const MAX_TOKEN_LENGTH = 8192;
const MAX_CLAIM_ENTRIES = 256;

/**
 * Verifies JWTs presented at the WebSocket upgrade (and by HTTP API callers).
 * Algorithms are pinned from config; a symmetric secret is only ever used for HS*
 * and a public key / JWKS only for asymmetric algorithms, so a token signed with
 * HS256 using the RSA public key as the secret cannot pass.
 */
export class Authenticator {
  readonly #key: JWTVerifyGetKey;
  readonly #settings: AuthSettings;
  /** HS* tokens: checked synchronously with node:crypto; undefined: every token goes through jose. */
  readonly #hmac: HmacJwtVerifier | undefined;

  /**
   * `hmac`: how HS* tokens are verified — 'node' (default: synchronous node:crypto, the
   * same checks and refusal reasons as jose, see HmacJwtVerifier) or 'jose' (WebCrypto;
   * kept so tests hold both paths to one matrix).
   */
  constructor(settings: AuthSettings, options: { hmac?: 'node' | 'jose' } = {}) {
    this.#settings = settings;
    this.#hmac = settings.secret !== undefined && options.hmac !== 'jose' && settings.algorithms.every((a) => a.startsWith('HS'))
      ? new HmacJwtVerifier({ ...settings, secret: settings.secret })
      : undefined;
    const symmetric = settings.algorithms.every((a) => a.startsWith('HS'));
    const asymmetric = settings.algorithms.every((a) => !a.startsWith('HS'));
    if (settings.secret !== undefined) {
      if (!symmetric) throw new Error('auth: a shared secret can only verify HS* algorithms');
      this.#key = cachedPerAlgorithm(settings.algorithms, (alg) => {
        const hash = `SHA-${alg.slice(2)}`;
        return webcrypto.subtle.importKey('raw', new TextEncoder().encode(settings.secret), { name: 'HMAC', hash }, false, ['verify']) as Promise<VerifyKey>;
      });
    } else if (settings.publicKeyPem !== undefined) {
      if (!asymmetric) throw new Error('auth: a public key cannot verify HS* algorithms');
      const spki = createPublicKey(settings.publicKeyPem).export({ type: 'spki', format: 'pem' }).toString();
      this.#key = cachedPerAlgorithm(settings.algorithms, (alg) => importSPKI(spki, alg));
    } else if (settings.jwks !== undefined) {
      if (!asymmetric) throw new Error('auth: a JWKS cannot verify HS* algorithms');
      this.#key = createLocalJWKSet(settings.jwks as JSONWebKeySet);
    } else {
      throw new Error('auth: no secret, public key or JWKS configured');
    }
  }

  /** Verifies a token and returns its principal; rejects with UNAUTHORIZED and a reason. */
  async verify(token: string): Promise<Principal> {
    if (token.length === 0) throw new GatewayError('UNAUTHORIZED', 'missing token');
    if (token.length > MAX_TOKEN_LENGTH) throw new GatewayError('UNAUTHORIZED', 'token too large');
    if (this.#hmac !== undefined) {
      const verdict = this.#hmac.verify(token);
      if (!verdict.ok) throw new GatewayError('UNAUTHORIZED', verdict.reason);
      return principalFrom(verdict.payload);
    }
    let payload: JWTPayload;
    try {
      const options = {
        algorithms: [...this.#settings.algorithms],
        clockTolerance: Math.round(this.#settings.clockTolerance / 1000),
        ...(this.#settings.issuer !== undefined ? { issuer: this.#settings.issuer } : {}),
        ...(this.#settings.audience !== undefined ? { audience: this.#settings.audience } : {}),
      };
      payload = (await jwtVerify(token, this.#key, options)).payload;
    } catch (err) {
      throw new GatewayError('UNAUTHORIZED', describeJoseError(err));
    }
    return principalFrom(payload);
  }
}

/**
 * Imports the key once per pinned algorithm, on first use: handing jose raw bytes or a
 * KeyObject makes it import a CryptoKey on every verification, which was most of the
 * CPU an upgrade cost. Algorithms outside the pinned list never reach here (jose
 * checks the header's alg against `algorithms` first), and are refused if they do.
 */
type VerifyKey = Awaited<ReturnType<JWTVerifyGetKey>>;

function cachedPerAlgorithm(algorithms: readonly string[], importKey: (alg: string) => Promise<VerifyKey>): JWTVerifyGetKey {
  const keys = new Map<string, Promise<VerifyKey>>();
  return (header) => {
    const alg = header.alg;
    if (alg === undefined || !algorithms.includes(alg)) throw new joseErrors.JOSEAlgNotAllowed('token algorithm not allowed');
    let key = keys.get(alg);
    if (key === undefined) {
      key = importKey(alg);
      keys.set(alg, key);
    }
    return key;
  };
}

function describeJoseError(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'token expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `token claim ${err.claim} invalid (${err.reason})`;
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'bad token signature';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'token algorithm not allowed';
  if (err instanceof joseErrors.JOSEError) return `invalid token (${err.code})`;
  return 'invalid token';
}

const NO_GROUPS: readonly string[] = Object.freeze([]);
const NO_PERMS: ReadonlySet<string> = new Set();

/**
 * Claim values already built, by their list: a deployment's tokens carry a few distinct
 * `groups` and `perms` lists, and a list (or a Set with its hash table, about 300
 * bytes) built for each connection is memory held per connection for nothing. Shared
 * values are frozen or typed read-only (Principal).
 */
const SHARED_CLAIM_LISTS = 64;
const sharedSets = new SharedValues<ReadonlySet<string>>(SHARED_CLAIM_LISTS);
const sharedLists = new SharedValues<readonly string[]>(SHARED_CLAIM_LISTS);

// JSON, not a join, as the key: ["a,b"] and ["a", "b"] must not share a value.
function sharedSet(list: readonly string[]): ReadonlySet<string> {
  return list.length === 0 ? NO_PERMS : sharedSets.get(JSON.stringify(list), () => new Set(list));
}

function sharedList(list: readonly string[]): readonly string[] {
  return list.length === 0 ? NO_GROUPS : sharedLists.get(JSON.stringify(list), () => Object.freeze([...list]));
}

function principalFrom(payload: JWTPayload): Principal {
  const sub = payload.sub;
  if (typeof sub !== 'string' || !isUserId(sub)) throw new GatewayError('UNAUTHORIZED', 'token sub is not a valid user id');
  if (sub === SYSTEM_USER) throw new GatewayError('UNAUTHORIZED', `token sub "${SYSTEM_USER}" is reserved for messages from the backend API`);
  const groups = stringList(payload['groups'], 'groups');
  const perms = stringList(payload['perms'], 'perms');
  const publish = stringList(payload['publish'], 'publish');
  const contacts = stringList(payload['contacts'], 'contacts');
  // Tokens carry few distinct lists (most carry none): share them instead of building one per connection.
  return Object.freeze({
    userId: sub,
    groups: sharedList(groups),
    perms: sharedSet(perms),
    publish: sharedList(publish),
    contacts: contacts.length === 0 ? NO_PERMS : new Set(contacts),
    expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : undefined,
  });
}

function stringList(value: unknown, claim: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > MAX_CLAIM_ENTRIES || !value.every((v) => typeof v === 'string' && v.length <= 128)) {
    throw new GatewayError('UNAUTHORIZED', `token claim ${claim} must be a list of at most ${MAX_CLAIM_ENTRIES} strings`);
  }
  return value as string[];
}

/** Extracts the bearer token from an Authorization header value, or '' when absent. */
export function bearerToken(header: string): string {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1]! : '';
}
