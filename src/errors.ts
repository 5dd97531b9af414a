/**
 * The one registry of error codes. Every error a client or an HTTP caller can see
 * is listed here with the WebSocket close code used when the error ends the
 * connection and the HTTP status used when it answers a request. Codes are
 * stable: clients switch on them, so a code is never renamed or reused.
 * docs/protocol.md documents every code; a test fails when one is missing there.
 */
export const ERRORS = {
  BAD_REQUEST: { close: 1008, http: 400, message: 'malformed or invalid frame' },
  UNAUTHORIZED: { close: 4001, http: 401, message: 'authentication failed' },
  FORBIDDEN: { close: 4003, http: 403, message: 'not allowed' },
  NOT_FOUND: { close: 1008, http: 404, message: 'not found' },
  METHOD_NOT_ALLOWED: { close: 1008, http: 405, message: 'method not allowed' },
  CONFLICT: { close: 1008, http: 409, message: 'conflict' },
  UNSUPPORTED_MEDIA_TYPE: { close: 1003, http: 415, message: 'unsupported content type' },
  RATE_LIMITED: { close: 1008, http: 429, message: 'rate limit exceeded' },
  TOO_LARGE: { close: 1009, http: 413, message: 'frame too large' },
  CONTENT_REJECTED: { close: 1008, http: 422, message: 'content rejected' },
  GROUP_FULL: { close: 1008, http: 409, message: 'group is full' },
  TOO_MANY_CONNECTIONS: { close: 4029, http: 429, message: 'too many connections' },
  SERVER_FULL: { close: 1013, http: 503, message: 'server at connection capacity' },
  UNAVAILABLE: { close: 1013, http: 503, message: 'temporarily unavailable' },
  UPGRADE_REQUIRED: { close: 1008, http: 426, message: 'this endpoint only accepts WebSocket upgrades' },
  INTERNAL: { close: 1011, http: 500, message: 'internal error' },
} as const satisfies Record<string, { close: number; http: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/**
 * Close codes the gateway uses on its own initiative (not tied to one error frame).
 * Clients decide whether to reconnect from these, so they are part of the protocol.
 */
export const CLOSE = {
  /** Policy violation: sustained garbage or sustained rate abuse. Do not reconnect at once. */
  POLICY: 1008,
  /** Server is restarting (SIGTERM). Reconnect later, with jitter. */
  RESTART: 1012,
  /** Send buffer stayed over its limit for WriteTimeout: the client reads too slowly. */
  SLOW_CONSUMER: 4000,
  /** Replaced by a newer connection of the same user (Limits.PerUserPolicy: evict-oldest). */
  EVICTED: 4008,
  /** Disconnected by the backend (HTTP API `POST /api/v1/users/{user}/disconnect`). Do not reconnect automatically. */
  DISCONNECTED: 4010,
  /** The token's `exp` (plus Auth.ClockTolerance) passed without a `refresh`. Reconnect with a fresh token. */
  TOKEN_EXPIRED: 4011,
} as const;

/** An error as a value: a stable code, a human message and optional details for the client. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message?: string, details?: Record<string, unknown>) {
    super(message ?? ERRORS[code].message);
    this.name = 'GatewayError';
    this.code = code;
    this.details = details;
  }

  get closeCode(): number {
    return ERRORS[this.code].close;
  }

  get httpStatus(): number {
    return ERRORS[this.code].http;
  }

  /** The `data` of an error frame, and the JSON body of an HTTP error response. */
  toJSON(): { code: ErrorCode; message: string } & Record<string, unknown> {
    return { code: this.code, message: this.message, ...this.details };
  }
}

/** Wraps anything thrown into a GatewayError; unknown errors become INTERNAL and keep no detail. */
export function toGatewayError(err: unknown): GatewayError {
  return err instanceof GatewayError ? err : new GatewayError('INTERNAL');
}
