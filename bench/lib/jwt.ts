/**
 * HS256 tokens signed with node:crypto. The bench mints up to tens of thousands of
 * tokens per run; this costs a few microseconds each, where an async JOSE signer
 * costs far more. The output is a standard compact JWS any verifier accepts.
 */
import { createHmac } from 'node:crypto';

const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');

export interface BenchClaims {
  sub: string;
  exp: number;
  groups?: string[];
  perms?: string[];
}

export function signHs256(secret: string, claims: BenchClaims): string {
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const input = `${HEADER}.${payload}`;
  const sig = createHmac('sha256', secret).update(input).digest('base64url');
  return `${input}.${sig}`;
}

/** Claims of a bench user: may join every `bench:*` group and broadcast; valid for `ttlSec`. */
export function benchToken(secret: string, user: string, ttlSec = 3600): string {
  return signHs256(secret, {
    sub: user,
    exp: Math.floor(Date.now() / 1000) + ttlSec,
    groups: ['bench:*'],
    perms: ['broadcast'],
  });
}
