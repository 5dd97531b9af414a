/**
 * Reconnect delays: exponential backoff with full jitter (a uniformly random delay
 * between 0 and min(maxDelay, minDelay * 2^attempt)). Full jitter is what spreads a
 * crowd of clients that lost the same server: with it they do not all come back in
 * the same instant.
 */
export interface BackoffOptions {
  /** Ceiling of the first attempt's delay (ms). */
  minDelay: number;
  /** Largest delay (ms). */
  maxDelay: number;
}

export function backoffDelay(attempt: number, opts: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(opts.maxDelay, opts.minDelay * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/** What to do after the socket closed, decided from the close code (docs/protocol.md, "Close codes"). */
export type CloseAction =
  /** Reconnect after a backoff delay; `slow` starts the backoff further along. */
  | { kind: 'reconnect'; slow: boolean }
  /** The token expired (4011): fetch a new one and reconnect at once. */
  | { kind: 'new-token' }
  /** Refused authentication (4001, 401): reconnect only if getToken gives another token. */
  | { kind: 'auth' }
  /** Do not reconnect (4008 evicted, 4010 disconnected by the server, 4003/403 origin or access refused). */
  | { kind: 'stop' };

/**
 * `upgradeStatus` is the HTTP status of a refused upgrade when the runtime exposes it
 * (Node's `ws` does; browsers only report 1006).
 */
export function closeAction(code: number, upgradeStatus?: number): CloseAction {
  if (upgradeStatus === 401) return { kind: 'auth' };
  if (upgradeStatus === 403) return { kind: 'stop' };
  if (upgradeStatus === 429) return { kind: 'reconnect', slow: true };
  switch (code) {
    case 4001:
      return { kind: 'auth' };
    case 4011:
      return { kind: 'new-token' };
    case 4003:
    case 4008:
    case 4010:
      return { kind: 'stop' };
    case 1008:
    case 4029:
      return { kind: 'reconnect', slow: true };
    default:
      // 1000 from a server, 1001, 1006, 1011, 1012, 1013, 4000 and anything unknown:
      // the connection is worth having back.
      return { kind: 'reconnect', slow: false };
  }
}
