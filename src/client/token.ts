/**
 * Reads the `exp` claim of a JWT without verifying it (the gateway verifies; the
 * client only needs to know when to fetch the next token). Undefined when the token
 * is not a JWT or has no numeric `exp`.
 */
export function tokenExpiry(token: string): number | undefined {
  const part = token.split('.')[1];
  if (part === undefined) return undefined;
  try {
    const base64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const json = new TextDecoder().decode(Uint8Array.from(atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4)), (c) => c.charCodeAt(0)));
    const claims = JSON.parse(json) as { exp?: unknown };
    return typeof claims.exp === 'number' ? claims.exp * 1000 : undefined;
  } catch (err) {
    // An opaque (non-JWT) token is allowed: it just gets no proactive refresh.
    if (err instanceof SyntaxError || err instanceof TypeError || (err instanceof Error && err.name === 'InvalidCharacterError')) return undefined;
    throw err;
  }
}

/** Random id prefix: unique per client instance so resent ids never collide with another tab's. */
export function randomPrefix(): string {
  const bytes = new Uint8Array(6);
  const c = (globalThis as { crypto?: { getRandomValues?(b: Uint8Array): Uint8Array } }).crypto;
  if (c?.getRandomValues !== undefined) c.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  return Array.from(bytes, (b) => b.toString(36).padStart(2, '0')).join('');
}
