/**
 * Errors the SDK hands to the application. Server refusals keep the gateway's code
 * (docs/protocol.md, "Error codes"); the SDK's own conditions have codes of their own:
 *
 * - `TIMEOUT`: the frame was on the wire for `timeout` ms without an answer.
 * - `OUTBOX_FULL`: `outbox.maxCount` frames already wait for an answer; the call was not queued.
 * - `OUTBOX_EXPIRED`: the frame waited longer than `outbox.maxAge` ms without an answer.
 * - `CLOSED`: the client was closed by the application, or stopped for good (4008, 4010,
 *   an authentication refusal); `closeCode` says which.
 * - `INVALID`: the call's arguments cannot form a frame (e.g. content that is not JSON).
 */
export class SwitchboardError extends Error {
  override readonly name = 'SwitchboardError';

  constructor(
    /** A gateway error code (`FORBIDDEN`, `RATE_LIMITED`, …) or one of the SDK's codes above. */
    readonly code: string,
    message: string,
    /** The error frame's other fields (`retryAfterMs`, `maxMembers`, …) when the server sent them. */
    readonly details: Record<string, unknown> = {},
    /** For `CLOSED`: the close code that ended the client, when a server ended it. */
    readonly closeCode?: number,
  ) {
    super(message);
  }
}
