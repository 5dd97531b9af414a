import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { GatewayError } from '../../errors.js';
import type { IdempotencyStore, StoredAnswer } from '../../engine/idempotency.js';

/** How long a running request holds its key: a node that dies mid-request frees it after this. */
const LEASE_MS = 60_000;
const KEY_RE = /^[\x21-\x7e]{1,255}$/;

/** sha256 over what makes two requests the same: method, route path and body bytes. */
export function requestFingerprint(method: string, path: string, contentType: string, body: Uint8Array): string {
  return createHash('sha256').update(`${method} ${path}\n${contentType}\n`).update(body).digest('hex');
}

/**
 * Runs POSTs that carry an Idempotency-Key at most once per (API key, Idempotency-Key):
 * the first runs and its answer is kept for `ttlMs`; a retry with the same body gets
 * that answer back and runs nothing; with another body it is CONFLICT. A retry that
 * arrives while the first still runs is CONFLICT too, with Retry-After, rather than a
 * second run. Answers with a 5xx status are not kept: the key is released so that a
 * retry runs again (a 5xx push may have reached some recipients; see docs/api.md).
 */
export class IdempotencyGuard {
  constructor(private readonly store: IdempotencyStore, private readonly ttlMs: number, private readonly log: Logger) {}

  /** The header's key, checked: 1-255 visible ASCII characters. */
  static parseKey(header: string): string {
    if (!KEY_RE.test(header)) throw new GatewayError('BAD_REQUEST', 'Idempotency-Key header: expected 1-255 visible ASCII characters');
    return header;
  }

  async run(scope: string, key: string, fingerprint: string, work: () => Promise<StoredAnswer>): Promise<StoredAnswer & { replayed: boolean }> {
    const claim = await this.store.begin(scope, key, fingerprint, Math.min(LEASE_MS, this.ttlMs));
    if (claim.state === 'done') {
      if (claim.fingerprint !== fingerprint) {
        throw new GatewayError('CONFLICT', 'Idempotency-Key was already used with a different request (method, path or body); use a new key');
      }
      return { ...claim.answer, replayed: true };
    }
    if (claim.state === 'pending') {
      throw new GatewayError('CONFLICT', 'a request with this Idempotency-Key is still running; retry after it completes', { retryAfterMs: 1000 });
    }
    let answer: StoredAnswer;
    try {
      answer = await work();
    } catch (err) {
      await this.#release(scope, key, fingerprint);
      throw err;
    }
    if (answer.status >= 500) {
      await this.#release(scope, key, fingerprint);
    } else {
      try {
        await this.store.finish(scope, key, fingerprint, answer, this.ttlMs);
      } catch (err) {
        // The work is done and its answer goes out; only a retry's protection is lost
        // (the claim lapses after its lease).
        this.log.error({ err }, 'could not record an idempotent answer');
      }
    }
    return { ...answer, replayed: false };
  }

  async #release(scope: string, key: string, fingerprint: string): Promise<void> {
    try {
      await this.store.abandon(scope, key, fingerprint);
    } catch (err) {
      this.log.warn({ err }, 'could not release an Idempotency-Key; it lapses with its lease');
    }
  }
}
