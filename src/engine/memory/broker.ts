import type { Broker, BrokerHandler, BrokerMessage } from '../broker.js';

/**
 * The single-node broker: there are no other nodes, so publishing reaches nobody
 * beyond the local uWS fan-out the hub already did, and subscribing changes nothing.
 * It keeps no subscription set: a node holds one broker subscription per connected
 * user and group, and a set nobody reads would cost memory per connection (tests that
 * observe the hub's bookkeeping use a recording subclass).
 */
export class MemoryBroker implements Broker {
  readonly spansNodes = false;
  #handler: BrokerHandler | undefined;

  async publish(_message: BrokerMessage): Promise<number> {
    return 0;
  }

  async subscribe(_topic: string): Promise<void> {}

  async unsubscribe(_topic: string): Promise<void> {}

  onMessage(handler: BrokerHandler): void {
    this.#handler = handler;
  }

  /** Delivers a message as if another node had published it (used by tests). */
  inject(message: BrokerMessage): void {
    this.#handler?.(message);
  }

  async close(): Promise<void> {}
}
