import * as crypto from 'node:crypto';
import { GatewayError } from '../../errors.js';
import { bearerToken } from '../../core/auth.js';

/** Who called: derived from the key, never the key itself. */
export interface ApiCaller {
  /** First 8 hex digits of sha256(key): enough to tell keys apart in logs, useless to an attacker. */
  readonly fingerprint: string;
  /** sha256(key) in hex: the scope of the caller's Idempotency-Keys. */
  readonly scope: string;
}

class Caller implements ApiCaller {
  readonly fingerprint: string;
  #scope: string | undefined;

  constructor(private readonly digest: Buffer) {
    this.fingerprint = digest.toString('hex', 0, 4);
  }

  // Only requests with an Idempotency-Key need the full hex.
  get scope(): string {
    return (this.#scope ??= this.digest.toString('hex'));
  }
}

/** Longest key looked at; anything longer cannot be a configured key and is refused before hashing. */
const MAX_KEY_LENGTH = 4096;

/**
 * Http.ApiKeys: checks the key a request presents (`Authorization: Bearer <key>` or
 * `X-API-Key: <key>`). The check compares SHA-256 digests with timingSafeEqual against
 * every configured key, without stopping at a match, so the time taken tells nothing
 * about a key's content, its length or which key matched.
 */
export class ApiKeys {
  readonly #digests: Buffer[];

  constructor(keys: readonly string[]) {
    this.#digests = keys.map(digest);
  }

  get enabled(): boolean {
    return this.#digests.length > 0;
  }

  /**
   * The caller for the request's headers, or UNAUTHORIZED saying why. With no key
   * configured every call is refused: the API is off until keys are set.
   */
  authenticate(authorization: string, xApiKey: string): ApiCaller {
    if (!this.enabled) throw new GatewayError('UNAUTHORIZED', 'API disabled: set Http.ApiKeys');
    const presented = bearerToken(authorization) || xApiKey.trim();
    if (presented === '') throw new GatewayError('UNAUTHORIZED', 'missing API key: send Authorization: Bearer <key> or X-API-Key: <key>');
    if (presented.length > MAX_KEY_LENGTH) throw new GatewayError('UNAUTHORIZED', 'invalid API key');
    const candidate = digest(presented);
    let match = false;
    for (const known of this.#digests) match = crypto.timingSafeEqual(candidate, known) || match;
    if (!match) throw new GatewayError('UNAUTHORIZED', 'invalid API key');
    return new Caller(candidate);
  }
}

// crypto.hash (Node >= 20.12) is the one-shot digest, a few times cheaper per call than a Hash object.
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'buffer') => Buffer }).hash;

function digest(key: string): Buffer {
  return oneShot !== undefined ? oneShot('sha256', key, 'buffer') : crypto.createHash('sha256').update(key, 'utf8').digest();
}
