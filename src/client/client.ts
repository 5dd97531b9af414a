import { backoffDelay, closeAction, type CloseAction } from './backoff.js';
import { Emitter } from './emitter.js';
import { SwitchboardError } from './errors.js';
import { resolveOptions, type ResolvedOptions } from './options.js';
import { Outbox, type Pending } from './outbox.js';
import { InboxReceiver } from './receiver.js';
import { Subscriptions } from './subscriptions.js';
import { Credentials } from './credentials.js';
import { randomPrefix } from './token.js';
import { decodeFrame, encodeFrame, type WireFrame } from './wire.js';
import type {
  ClientEvents, ConnectOptions, Format, GroupData, JoinAck, MessageData, PresenceAnswer, PublishAck,
  SendAck, SettableStatus, WatchAck, WebSocketConstructor, WebSocketLike,
} from './types.js';

/** Error codes after which a frame is written again instead of failing the call. */
const RETRYABLE = new Set(['RATE_LIMITED', 'UNAVAILABLE']);
const OPEN = 1;
/** How often timeouts, liveness and the outbox age are checked (ms). */
const TICK_MS = 250;
/**
 * A connection counts as established, and the backoff starts over, only after it stayed
 * open this long (ms): a gateway that refuses by opening and closing at once (a full
 * node, a rate limit) must not reset the backoff every time.
 */
const STABLE_MS = 5000;

export type ClientState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/**
 * A Switchboard connection that keeps itself alive. Calls return promises settled by
 * the server's answer; frames issued while disconnected wait in the outbox and leave in
 * call order after the reconnect, once the client has re-joined its groups, re-watched
 * its users and restored its status. Direct messages reach the `message` handlers
 * exactly once and in `seq` order, and are acknowledged for the application.
 */
export class Client {
  readonly #opts: ResolvedOptions;
  readonly #WS: WebSocketConstructor;
  readonly #credentials: Credentials;
  readonly #events: Emitter<ClientEvents>;
  readonly #outbox: Outbox;
  readonly #inbox: InboxReceiver;
  #ws: WebSocketLike | undefined;
  #state: ClientState = 'connecting';
  #attempt = 0;
  #everConnected = false;
  #lastFrameAt = 0;
  #openedAt = 0;
  #pingSent = false;
  #upgradeStatus: number | undefined;
  #tick: ReturnType<typeof setInterval> | undefined;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #subs = new Subscriptions();

  constructor(options: ConnectOptions) {
    this.#opts = resolveOptions(options);
    this.#WS = this.#opts.WebSocket;
    this.#events = new Emitter((err, event) => {
      if (event === 'error') return;
      this.#events.emit('error', new SwitchboardError('HANDLER', `a '${String(event)}' handler threw: ${err instanceof Error ? err.message : String(err)}`));
    });
    this.#credentials = new Credentials(options.token, options.getToken, this.#opts.refreshBefore, (err) => this.#events.emit('error', err));
    this.#outbox = new Outbox({ maxCount: this.#opts.maxCount, maxAge: this.#opts.maxAge, timeout: this.#opts.timeout, now: Date.now }, randomPrefix());
    this.#inbox = new InboxReceiver({
      ackEvery: this.#opts.ackEvery,
      ackInterval: this.#opts.ackInterval,
      sendAck: (upTo, epoch) => this.#write({ type: 'ack', data: epoch === undefined ? { upTo } : { upTo, epoch } }),
      deliver: (m) => this.#events.emit('message', m as MessageData),
      sync: (after) => this.#request('sync', { after }),
      syncFailed: (after, err) => {
        if (err.code !== 'CLOSED') this.#events.emit('error', new SwitchboardError(err.code, `asking for inbox messages after seq ${after} failed: ${err.message}`, err.details));
      },
    });
    this.#tick = setInterval(() => this.#onTick(), TICK_MS);
    void this.#open();
  }

  /** 'connecting' (first attempt), 'open', 'reconnecting' (waiting or retrying), 'closed' (for good). */
  get state(): ClientState {
    return this.#state;
  }

  /** Frames waiting for an answer. */
  get pending(): number {
    return this.#outbox.size;
  }

  on<K extends keyof ClientEvents>(event: K, handler: (data: ClientEvents[K]) => void): this {
    this.#events.on(event, handler);
    return this;
  }

  off<K extends keyof ClientEvents>(event: K, handler: (data: ClientEvents[K]) => void): this {
    this.#events.off(event, handler);
    return this;
  }

  /** Direct message; resolves with `{mid, status: 'delivered'|'stored', seq, timestamp}` once it is in the inbox. */
  send(to: string, content: unknown): Promise<SendAck> {
    return this.#request('message', { to, content }) as Promise<SendAck>;
  }

  /** Group message (`group` frame). */
  publish(group: string, content: unknown, opts: { important?: boolean } = {}): Promise<PublishAck> {
    return this.#request('group', opts.important === true ? { group, content, important: true } : { group, content }) as Promise<PublishAck>;
  }

  broadcast(content: unknown): Promise<PublishAck> {
    return this.#request('broadcast', { content }) as Promise<PublishAck>;
  }

  /** Joins a group; it is re-joined after every reconnect (recovering missed history when the group keeps it) until `leave`. */
  async join(group: string): Promise<JoinAck> {
    const { data, since } = this.#subs.joinData(group);
    const ack = await this.#request('join', data) as JoinAck;
    this.#subs.joined(group, ack, since !== undefined);
    return ack;
  }

  async leave(group: string): Promise<{ status: 'ok'; group: string }> {
    this.#subs.left(group);
    return this.#request('leave', { group }) as Promise<{ status: 'ok'; group: string }>;
  }

  /** Sets this user's status; restored after every reconnect. */
  async setStatus(status: SettableStatus): Promise<{ status: 'ok' }> {
    this.#subs.status(status);
    return this.#request('status', { status }) as Promise<{ status: 'ok' }>;
  }

  /** Watches users' status (`status` events); re-watched after every reconnect. */
  watch(users: string[]): Promise<WatchAck> {
    this.#subs.watch(users);
    return this.#request('watch', { users: [...users] }) as Promise<WatchAck>;
  }

  unwatch(users: string[]): Promise<WatchAck> {
    this.#subs.unwatch(users);
    return this.#request('unwatch', { users: [...users] }) as Promise<WatchAck>;
  }

  /** Presence of users, or of a group's online members. */
  presence(query: string[] | { group: string }): Promise<PresenceAnswer> {
    return this.#request('presence', Array.isArray(query) ? { users: [...query] } : { group: query.group }) as Promise<PresenceAnswer>;
  }

  /** A page of a group's history (newest `limit` messages before offset `before`). */
  history(group: string, opts: { before?: number; limit?: number } = {}): Promise<{ group: string; epoch: string; offset: number; messages: GroupData[] }> {
    return this.#request('history', { group, ...opts }) as Promise<{ group: string; epoch: string; offset: number; messages: GroupData[] }>;
  }

  /**
   * Closes for good: acknowledges what the application has handled, closes the socket
   * with 1000 and rejects every frame still waiting with `CLOSED`.
   */
  close(): void {
    if (this.#state === 'closed') return;
    this.#inbox.flush();
    this.#stop(new SwitchboardError('CLOSED', 'the client was closed'), 1000, 'client closed');
  }

  // ---- connection life -------------------------------------------------------

  async #open(): Promise<void> {
    if (this.#credentials.renewable && (await this.#credentials.next()) === undefined) {
      this.#scheduleReconnect(false);
      return;
    }
    if (this.#state === 'closed') return;
    const url = `${this.#opts.url}${this.#opts.url.includes('?') ? '&' : '?'}token=${encodeURIComponent(this.#credentials.token ?? '')}`;
    let ws: WebSocketLike;
    try {
      ws = new this.#WS(url, this.#opts.format);
    } catch (err) {
      this.#stop(new SwitchboardError('INVALID', `cannot open ${this.#opts.url}: ${err instanceof Error ? err.message : String(err)}`), undefined, '');
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.#ws = ws;
    this.#upgradeStatus = undefined;
    ws.onopen = () => this.#onOpen(ws);
    ws.onmessage = (ev) => this.#onData(ws, ev.data);
    ws.onerror = (ev) => {
      // Node's ws reports a refused upgrade as "Unexpected server response: 401"; browsers say nothing.
      const m = /Unexpected server response: (\d{3})/.exec(String((ev as { message?: unknown }).message ?? ''));
      if (m !== null && ws === this.#ws) this.#upgradeStatus = Number(m[1]);
    };
    ws.onclose = (ev) => this.#onClose(ws, ev.code, ev.reason);
  }

  #onOpen(ws: WebSocketLike): void {
    if (ws !== this.#ws) return;
    const reconnected = this.#everConnected;
    this.#everConnected = true;
    this.#state = 'open';
    this.#openedAt = Date.now();
    this.#lastFrameAt = Date.now();
    this.#pingSent = false;
    this.#credentials.scheduleRefresh((token) => this.#request('refresh', { token }), () => this.#ws === ws && this.#state === 'open');
    this.#events.emit('connected', { reconnected, protocol: ws.protocol });
    if (this.#ws !== ws) return;
    this.#restore();
    this.#flush();
  }

  /** Re-joins groups (recovering from the last position), re-watches, restores the status. */
  #restore(): void {
    for (const frame of this.#subs.restoreFrames()) {
      const { entry, promise } = this.#outbox.add(frame.type, frame.data);
      if (entry !== undefined) this.#writeEntry(entry);
      promise.then(
        (ack) => {
          if (frame.group !== undefined) this.#subs.joined(frame.group, ack as JoinAck, frame.since !== undefined);
        },
        (err: SwitchboardError) => {
          if (frame.group !== undefined) this.#subs.left(frame.group);
          if (err.code === 'CLOSED') return;
          this.#events.emit('error', new SwitchboardError(err.code, `restoring ${frame.type} ${frame.group ?? ''} failed: ${err.message}`, err.details));
        },
      );
    }
  }

  #onClose(ws: WebSocketLike, code: number, reason: string): void {
    if (ws !== this.#ws) return;
    const wasOpen = this.#state === 'open';
    this.#detach();
    const action = closeAction(code, this.#upgradeStatus);
    void this.#afterClose(action, code, reason, wasOpen);
  }

  /**
   * `disconnected` is emitted when an open connection ends, and when the client gives
   * up for good; a reconnect attempt that never opened only leads to `reconnecting`.
   */
  async #afterClose(action: CloseAction, code: number, reason: string, wasOpen: boolean): Promise<void> {
    if (this.#state === 'closed') return;
    const lost = (): void => {
      if (wasOpen) this.#events.emit('disconnected', { code, reason, willReconnect: true });
    };
    const stopFor = (why: string): void => {
      this.#events.emit('disconnected', { code, reason, willReconnect: false });
      this.#stop(new SwitchboardError('CLOSED', why, {}, code), undefined, '');
    };
    if (!this.#opts.reconnect) return stopFor(`the connection closed (${code}) and reconnect is off`);
    switch (action.kind) {
      case 'stop':
        return stopFor(code === 4008 ? 'evicted by a newer connection of the same user (4008)'
          : code === 4010 ? 'disconnected by the server (4010)' : `access refused (${this.#upgradeStatus ?? code}: ${reason})`);
      case 'auth': {
        const refused = this.#credentials.token;
        const next = await this.#credentials.next();
        if (next === undefined || next === refused) return stopFor(`authentication refused (${this.#upgradeStatus ?? code})`);
        lost();
        return this.#scheduleReconnect(false);
      }
      case 'new-token':
        if (!this.#credentials.renewable) return stopFor('the token expired (4011) and there is no getToken to renew it');
        lost();
        // #open calls getToken; no delay: the server asked for exactly this.
        return this.#scheduleReconnect(false, 0);
      case 'reconnect':
        lost();
        return this.#scheduleReconnect(action.slow);
    }
  }

  #scheduleReconnect(slow: boolean, delay?: number): void {
    if (this.#state === 'closed') return;
    this.#state = 'reconnecting';
    // Rate limits and policy closes: start further along the curve so a crowd backs off hard.
    if (slow) this.#attempt = Math.max(this.#attempt, 3);
    const wait = delay ?? backoffDelay(this.#attempt, { minDelay: this.#opts.minReconnectDelay, maxDelay: this.#opts.maxReconnectDelay });
    this.#attempt++;
    this.#events.emit('reconnecting', { attempt: this.#attempt, delay: wait });
    if (this.#state !== 'reconnecting') return;
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      void this.#open();
    }, wait);
  }

  /** The socket is gone (closed or declared dead): forget it and what was in flight on it. */
  #detach(): void {
    const ws = this.#ws;
    this.#ws = undefined;
    if (ws !== undefined) {
      ws.onopen = null;
      ws.onmessage = null;
      ws.onclose = null;
      ws.onerror = () => {};
    }
    this.#credentials.cancelRefresh();
    this.#outbox.disconnected();
    this.#inbox.disconnected();
  }

  #stop(err: SwitchboardError, code: number | undefined, reason: string): void {
    const ws = this.#ws;
    this.#detach();
    if (ws !== undefined && code !== undefined) {
      try {
        ws.close(code, reason);
      } catch (closeErr) {
        // Closing a socket that is still connecting throws in some runtimes; it is abandoned either way.
        this.#events.emit('error', new SwitchboardError('CLOSED', `closing the socket failed: ${String(closeErr)}`));
      }
    }
    this.#state = 'closed';
    if (this.#tick !== undefined) clearInterval(this.#tick);
    if (this.#reconnectTimer !== undefined) clearTimeout(this.#reconnectTimer);
    this.#tick = undefined;
    this.#reconnectTimer = undefined;
    this.#inbox.stop();
    this.#outbox.rejectAll(err);
  }

  #onTick(): void {
    const now = Date.now();
    this.#outbox.expire(now, this.#state === 'open');
    if (this.#state !== 'open' || this.#ws === undefined) return;
    if (this.#attempt !== 0 && now - this.#openedAt >= STABLE_MS) this.#attempt = 0;
    const quiet = now - this.#lastFrameAt;
    if (quiet >= this.#opts.livenessTimeout) {
      // A half-open TCP connection never reports a close: give up on it ourselves.
      const ws = this.#ws;
      this.#detach();
      try {
        ws.close(4000, 'liveness timeout');
      } catch (err) {
        this.#events.emit('error', new SwitchboardError('CLOSED', `closing a dead socket failed: ${String(err)}`));
      }
      this.#events.emit('disconnected', { code: 1006, reason: 'no frame from the server within livenessTimeout', willReconnect: this.#opts.reconnect });
      if (this.#opts.reconnect) this.#scheduleReconnect(false);
      else this.#stop(new SwitchboardError('CLOSED', 'the connection died and reconnect is off', {}, 1006), undefined, '');
      return;
    }
    if (quiet >= this.#opts.pingInterval && !this.#pingSent) {
      this.#pingSent = true;
      this.#write({ type: 'ping' });
    }
    this.#flush();
  }

  // ---- frames ----------------------------------------------------------------

  #request(type: string, data: unknown): Promise<unknown> {
    if (this.#state === 'closed') return Promise.reject(new SwitchboardError('CLOSED', 'the client is closed'));
    const { entry, promise } = this.#outbox.add(type, data);
    if (entry !== undefined && this.#state === 'open') this.#writeEntry(entry);
    return promise;
  }

  /** Writes every due outbox entry on the open socket, in call order. */
  #flush(): void {
    if (this.#state !== 'open') return;
    for (const entry of this.#outbox.due(Date.now())) if (!this.#writeEntry(entry)) return;
  }

  #writeEntry(entry: Pending): boolean {
    if (!this.#write({ type: entry.type, id: entry.id, data: entry.data }, entry)) return false;
    entry.sentAt = Date.now();
    return true;
  }

  #write(frame: { type: string; id?: string; data?: unknown }, entry?: Pending): boolean {
    const ws = this.#ws;
    if (ws === undefined || ws.readyState !== OPEN) return false;
    let bytes: string | Uint8Array;
    try {
      bytes = encodeFrame(frame, this.#opts.format);
    } catch (err) {
      entry?.reject(new SwitchboardError('INVALID', `cannot encode the ${frame.type} frame: ${err instanceof Error ? err.message : String(err)}`));
      return entry === undefined ? false : true;
    }
    ws.send(bytes);
    return true;
  }

  #onData(ws: WebSocketLike, raw: unknown): void {
    if (ws !== this.#ws) return;
    this.#lastFrameAt = Date.now();
    this.#pingSent = false;
    let frame: WireFrame;
    try {
      frame = decodeFrame(raw);
    } catch (err) {
      this.#events.emit('error', new SwitchboardError('BAD_FRAME', `undecodable frame from the server: ${err instanceof Error ? err.message : String(err)}`));
      return;
    }
    const data = (frame.data ?? {}) as Record<string, unknown>;
    const id = typeof frame.id === 'string' ? frame.id : undefined;
    const entry = id === undefined ? undefined : this.#outbox.get(id);
    switch (frame.type) {
      case 'message':
        if (entry !== undefined) break;
        this.#inbox.receive(data as unknown as MessageData);
        return;
      case 'group':
        this.#onGroup(data as unknown as GroupData);
        return;
      case 'broadcast':
      case 'status':
      case 'member':
      case 'receipt':
        this.#events.emit(frame.type, data as never);
        return;
      case 'sync':
        if (entry !== undefined) return entry.resolve(data);
        this.#events.emit('sync', data);
        return;
      case 'pong':
        return;
      case 'error':
        if (entry !== undefined) return this.#onRefusal(entry, data);
        this.#events.emit('error', new SwitchboardError(String(data['code'] ?? 'INTERNAL'), String(data['message'] ?? 'error from the server'), data));
        return;
    }
    if (entry !== undefined) entry.resolve(data);
  }

  #onGroup(data: GroupData): void {
    if (this.#subs.fresh(data)) this.#events.emit('group', data);
  }

  #onRefusal(entry: Pending, data: Record<string, unknown>): void {
    const code = String(data['code'] ?? 'INTERNAL');
    const err = new SwitchboardError(code, String(data['message'] ?? code), data);
    if (RETRYABLE.has(code) && Date.now() - entry.createdAt < this.#opts.maxAge) {
      // Not processed by the server (rate limit, or a node shutting down): write it again
      // with the same id after the advised delay, or on the next connection.
      const retry = typeof data['retryAfterMs'] === 'number' ? data['retryAfterMs'] : 1000;
      entry.sentAt = undefined;
      entry.notBefore = Date.now() + retry;
      return;
    }
    entry.reject(err);
  }
}

/** Opens a client; it connects (and reconnects) by itself. See `ConnectOptions`. */
export function connect(options: ConnectOptions): Client {
  return new Client(options);
}

export type { Format };
