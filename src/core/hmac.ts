import * as nodeCrypto from 'node:crypto';

/** The hashes HS256/384/512 use, with their block sizes in bytes (RFC 2104's B). */
const BLOCK_BYTES: Readonly<Record<string, number>> = { sha256: 64, sha384: 128, sha512: 128 };
/** Their digest sizes in bytes. */
const DIGEST_BYTES: Readonly<Record<string, number>> = { sha256: 32, sha384: 48, sha512: 64 };

/**
 * Inputs up to this many UTF-8 bytes are hashed from one buffer kept per key; longer
 * ones (no JWT that fits in an upgrade's headers) take a fresh buffer.
 */
const SCRATCH_BYTES = 16 * 1024;

/** node:crypto's one-shot digest (Node >= 20.12); undefined on older 20.x releases. */
type OneShot = (algorithm: string, data: Uint8Array, encoding: 'buffer') => Buffer;
const nodeOneShot: OneShot | undefined =
  typeof (nodeCrypto as { hash?: unknown }).hash === 'function'
    ? (nodeCrypto as unknown as { hash: OneShot }).hash
    : undefined;

/**
 * HMAC (RFC 2104) with one fixed key, for the token check on every upgrade.
 *
 * Why not createHmac: each call builds an Hmac object and OpenSSL HMAC context and
 * sets the key up again, which profiled at a tenth of an upgrade's CPU. Here the
 * padded key blocks are computed once, and a MAC is two one-shot digests,
 * H((K ^ opad) || H((K ^ ipad) || message)): about 10 µs less per upgrade in the bench's
 * connect scenario. Where node:crypto has no one-shot digest (Node before 20.12) it
 * falls back to createHmac; both give the same bytes (tested against createHmac).
 *
 * Not for concurrent use from several threads (it reuses one buffer); JavaScript on
 * one event loop calls it one call at a time.
 */
export class HmacKey {
  readonly #algorithm: string;
  readonly #secret: Buffer;
  readonly #block: number;
  /** (K ^ ipad), then room for the message: the inner digest's input. */
  readonly #inner: Buffer | undefined;
  /** (K ^ opad), then room for the inner digest: the outer digest's input. */
  readonly #outer: Buffer | undefined;
  readonly #digestBytes: number;
  readonly #oneShot: OneShot | undefined;

  /** `oneShot`: the digest function to build on; tests pass null to take the createHmac path. */
  constructor(algorithm: string, secret: Buffer, oneShot: OneShot | null = nodeOneShot ?? null) {
    if (!Object.hasOwn(BLOCK_BYTES, algorithm)) throw new Error(`hmac: unsupported hash ${algorithm}`);
    const block = BLOCK_BYTES[algorithm]!;
    this.#algorithm = algorithm;
    this.#secret = Buffer.from(secret);
    this.#block = block;
    this.#digestBytes = DIGEST_BYTES[algorithm]!;
    this.#oneShot = oneShot ?? undefined;
    if (oneShot === null) return;
    // A key longer than the block is replaced by its digest; a shorter one is padded with zeros.
    const key = Buffer.alloc(block);
    (secret.length > block ? oneShot(algorithm, secret, 'buffer') : secret).copy(key);
    this.#inner = Buffer.allocUnsafe(block + SCRATCH_BYTES);
    this.#outer = Buffer.allocUnsafe(block + this.#digestBytes);
    for (let i = 0; i < block; i++) {
      this.#inner[i] = key[i]! ^ 0x36;
      this.#outer[i] = key[i]! ^ 0x5c;
    }
  }

  /** The MAC of `message` (encoded as UTF-8), as a new Buffer of the hash's length. */
  mac(message: string): Buffer {
    const inner = this.#inner;
    const outer = this.#outer;
    const oneShot = this.#oneShot;
    if (oneShot === undefined || inner === undefined || outer === undefined) {
      return nodeCrypto.createHmac(this.#algorithm, this.#secret).update(message).digest();
    }
    const block = this.#block;
    let innerDigest: Buffer;
    // At most 3 UTF-8 bytes per UTF-16 unit, so a message this short always fits.
    if (message.length * 3 <= SCRATCH_BYTES) {
      const n = inner.write(message, block, 'utf8');
      innerDigest = oneShot(this.#algorithm, inner.subarray(0, block + n), 'buffer');
    } else {
      innerDigest = oneShot(this.#algorithm, Buffer.concat([inner.subarray(0, block), Buffer.from(message, 'utf8')]), 'buffer');
    }
    innerDigest.copy(outer, block);
    return oneShot(this.#algorithm, outer, 'buffer');
  }
}
