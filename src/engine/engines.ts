import type { Broker } from './broker.js';
import type { GroupHistory } from './history.js';
import type { IdempotencyStore } from './idempotency.js';
import type { Inbox } from './inbox.js';
import type { PresenceStore } from './presence.js';
import { LocalRateShare, type RateShare } from './rate-share.js';
import { MemoryIdempotencyStore } from './memory/idempotency.js';
import { MemoryGroupHistory } from './memory/history.js';

/**
 * The engines one gateway runs on, as the gateway needs them. `src/engines.ts` picks
 * the implementations from config (embedded by default, Redis in cluster mode); tests
 * build their own.
 */
export interface Engines {
  broker: Broker;
  inbox: Inbox;
  presence: PresenceStore;
  /** Per-group message history (groups with History, important messages). */
  history: GroupHistory;
  rateShare: RateShare;
  /** Idempotency-Key records of the HTTP API. */
  idempotency: IdempotencyStore;
  /** Null when every engine can serve; otherwise why not (shown by /readyz). */
  notReadyReason(): string | null;
  /**
   * Registers a callback run each time a shared engine comes back after being
   * unavailable, so the node can re-register what it holds locally.
   */
  onRecovered(callback: () => void): void;
  /** Registers a callback run when a shared engine's connection is lost (the start of an outage). */
  onLost(callback: () => void): void;
  /** Closes every engine, flushing durable ones. */
  close(): Promise<void>;
}

/**
 * Single-node engines (memory or LMDB): always ready, nothing to recover from, and
 * rate counts stay local. Closing closes each engine given.
 */
export function embeddedEngines(broker: Broker, inbox: Inbox, presence: PresenceStore, history: GroupHistory = new MemoryGroupHistory()): Engines {
  const rateShare = new LocalRateShare();
  const idempotency = new MemoryIdempotencyStore();
  return {
    broker,
    inbox,
    presence,
    history,
    rateShare,
    idempotency,
    notReadyReason: () => null,
    onRecovered: () => {},
    onLost: () => {},
    close: async () => {
      await inbox.close();
      await history.close();
      await presence.close();
      await broker.close();
      await rateShare.close();
      await idempotency.close();
    },
  };
}
