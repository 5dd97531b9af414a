import { MemoryBroker } from '../../src/engine/memory/broker.js';

/** The single-node broker, recording which topics the hub holds subscribed on it. */
export class RecordingBroker extends MemoryBroker {
  readonly topics = new Set<string>();

  override async subscribe(topic: string): Promise<void> {
    this.topics.add(topic);
  }

  override async unsubscribe(topic: string): Promise<void> {
    this.topics.delete(topic);
  }

  override async close(): Promise<void> {
    this.topics.clear();
  }
}
