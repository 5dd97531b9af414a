/**
 * The Switchboard client SDK (`switchboard/client`): one `connect()` call gives a
 * client that reconnects with jittered backoff, resumes the durable inbox without
 * duplicates, re-joins groups with history recovery and buffers calls in a bounded
 * outbox. Browser and Node (pass `ws` as the `WebSocket` option on Node < 22).
 */
export { Client, connect, type ClientState } from './client.js';
export { SwitchboardError } from './errors.js';
export { backoffDelay, closeAction, type BackoffOptions, type CloseAction } from './backoff.js';
export type * from './types.js';
