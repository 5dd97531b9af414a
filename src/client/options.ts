import type { ConnectOptions, WebSocketConstructor } from './types.js';

/** ConnectOptions with every default applied (docs/client.md lists them). */
export interface ResolvedOptions {
  url: string;
  format: 'json' | 'msgpack';
  timeout: number;
  minReconnectDelay: number;
  maxReconnectDelay: number;
  reconnect: boolean;
  maxCount: number;
  maxAge: number;
  ackEvery: number;
  ackInterval: number;
  pingInterval: number;
  livenessTimeout: number;
  refreshBefore: number;
  WebSocket: WebSocketConstructor;
}

/** Applies the defaults; throws a TypeError naming the option for anything unusable. */
export function resolveOptions(options: ConnectOptions): ResolvedOptions {
  if (typeof options.url !== 'string' || options.url === '') throw new TypeError('connect: url is required');
  if (options.token === undefined && options.getToken === undefined) throw new TypeError('connect: token or getToken is required');
  const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (WS === undefined) throw new TypeError('connect: no global WebSocket here; pass the constructor as the WebSocket option (e.g. the ws package)');
  const format = options.format ?? 'json';
  if (format !== 'json' && format !== 'msgpack') throw new TypeError(`connect: format must be 'json' or 'msgpack'`);
  return {
    url: options.url,
    format,
    timeout: options.timeout ?? 10_000,
    minReconnectDelay: options.minReconnectDelay ?? 500,
    maxReconnectDelay: options.maxReconnectDelay ?? 20_000,
    reconnect: options.reconnect ?? true,
    maxCount: options.outbox?.maxCount ?? 1000,
    maxAge: options.outbox?.maxAge ?? 60_000,
    ackEvery: options.ack?.every ?? 50,
    ackInterval: options.ack?.interval ?? 200,
    pingInterval: options.pingInterval ?? 15_000,
    livenessTimeout: options.livenessTimeout ?? 35_000,
    refreshBefore: options.refreshBefore ?? 60_000,
    WebSocket: WS,
  };
}
