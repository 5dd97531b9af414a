/**
 * What the core needs of one client's socket, and nothing more: the session, hub and
 * services talk to this, never to uWS, so the connection's whole life can be driven
 * by a fake socket in unit tests. `src/transport/websocket.ts` adapts uWS to it.
 *
 * Contract: every method may be called only while the socket is open (between the
 * session's `opened` and `closed`); the core clears `Connection.socket` on close so it
 * never holds a closed socket.
 */
export interface ClientSocket {
  /**
   * Queues one frame. Returns false when the socket refused it (its buffer is past the
   * hard backpressure limit): that frame is lost and the caller must treat the
   * connection as broken. A frame over the soft limit is still queued (true).
   */
  send(bytes: Uint8Array | string, binary: boolean): boolean;
  /** Bytes queued and not yet written to the network. */
  bufferedAmount(): number;
  /** Runs `fn` with writes batched into one syscall. */
  cork(fn: () => void): void;
  /** Subscribes to a node-local fan-out topic (a format topic, see topics.ts). Idempotent. */
  subscribe(topic: string): void;
  /** Idempotent. */
  unsubscribe(topic: string): void;
  /** Sends a WebSocket ping (the heartbeat). */
  ping(): void;
  /** Starts the closing handshake with `code` and `reason`; the session's `closed` follows. */
  end(code: number, reason: string): void;
  /** Drops the TCP connection at once, without a close frame (shutdown deadline). */
  close(): void;
}
