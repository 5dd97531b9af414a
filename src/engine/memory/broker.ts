import type { Broker, BrokerHandler, BrokerMessage } from '../broker.js';

/**
 * The single-node broker: there are no other nodes, so publishing reaches nobody
 * beyond the local uWS fan-out the hub already did. It keeps the subscription set
 * so that the hub's first/last-subscriber bookkeeping can be tested and observed.
 */
export class MemoryBroker implements Broker {
  readonly spansNodes = false;
  readonly topics = new Set<string>();
  #handler: BrokerHandler | undefined;

  async publish(_message: BrokerMessage): Promise<number> {
    return 0;
  }

  async subscribe(topic: string): Promise<void> {
    this.topics.add(topic);
  }

  async unsubscribe(topic: string): Promise<void> {
    this.topics.delete(topic);
  }

  onMessage(handler: BrokerHandler): void {
    this.#handler = handler;
  }

  /** Delivers a message as if another node had published it (used by tests). */
  inject(message: BrokerMessage): void {
    this.#handler?.(message);
  }

  async close(): Promise<void> {
    this.topics.clear();
  }
}
