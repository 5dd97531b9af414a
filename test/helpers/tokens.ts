import { SignJWT } from 'jose';

export const TEST_SECRET = 'test-secret-test-secret-test-secret-0123456789';

export interface TokenClaims {
  sub?: string;
  groups?: string[];
  perms?: string[];
  [claim: string]: unknown;
}

/** Signs an HS256 token for tests; expires in an hour unless `exp` is given. */
export async function token(claims: TokenClaims, opts: { secret?: string; expiresIn?: string | number } = {}): Promise<string> {
  const { sub, ...rest } = claims;
  const jwt = new SignJWT(rest).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (sub !== undefined) jwt.setSubject(sub);
  if (claims['exp'] === undefined) jwt.setExpirationTime(opts.expiresIn ?? '1h');
  return jwt.sign(new TextEncoder().encode(opts.secret ?? TEST_SECRET));
}
