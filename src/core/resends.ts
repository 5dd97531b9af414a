import { GatewayError } from '../errors.js';
import type { IdempotencyStore } from '../engine/idempotency.js';
import type { AckOut } from '../protocol/frames.js';

/** How long a frame being carried out holds its id against a concurrent resend (ms). */
const CLAIM_LEASE_MS = 30_000;

/**
 * A short, stable fingerprint of what a frame asks for: its type, its target and its
 * content. A resend is the same frame again, so it has the same fingerprint; a client
 * that reuses an id for a different message (a counter that restarted with a new
 * connection) gets a different one, and its message is not mistaken for a resend.
 * FNV-1a over the JSON text, in two 32-bit lanes: cheap, and a collision needs the same
 * user and the same id within the window.
 */
export function frameFingerprint(type: string, target: string, content: unknown): string {
  const text = JSON.stringify([type, target, content]) ?? '';
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
  }
  return (h1 >>> 0).toString(16).padStart(8, '0') + (h2 >>> 0).toString(16).padStart(8, '0');
}

/** The resend key of a frame: its id and fingerprint (see frameFingerprint). */
export function resendKey(id: string, fingerprint: string): string {
  return `${id}\u0000${fingerprint}`;
}

/**
 * Makes resent `group` and `broadcast` frames safe: the first frame with a given id
 * (and content) from a user is carried out and its answer kept for `windowMs`; a resend
 * within the window delivers nothing and gets that answer again (same mid), marked
 * `duplicate: true`. The record lives in the idempotency store, so with a shared store
 * (Redis) it holds cluster-wide. A resend that arrives while the first is still being
 * carried out is answered UNAVAILABLE (retry later, with the same id). Direct messages
 * are de-duplicated by the inbox itself, atomically with the append.
 */
export class ResendGuard {
  constructor(private readonly store: IdempotencyStore, private readonly windowMs: number) {}

  async once(userId: string, type: string, id: string, fingerprint: string, send: () => Promise<AckOut['data']>): Promise<AckOut['data']> {
    const scope = `ws:${userId}`;
    const key = `${type}:${resendKey(id, fingerprint)}`;
    const claim = await this.store.begin(scope, key, fingerprint, Math.min(CLAIM_LEASE_MS, this.windowMs));
    if (claim.state === 'done') return { ...(claim.answer.body as AckOut['data']), duplicate: true };
    if (claim.state === 'pending') throw new GatewayError('UNAVAILABLE', 'a frame with this id is still being carried out; retry with the same id', { retryAfterMs: 1000 });
    let answer: AckOut['data'];
    try {
      answer = await send();
    } catch (err) {
      // Not carried out: a retry with the same id must run it.
      await this.store.abandon(scope, key, fingerprint);
      throw err;
    }
    await this.store.finish(scope, key, fingerprint, { status: 200, body: answer }, this.windowMs);
    return answer;
  }
}
