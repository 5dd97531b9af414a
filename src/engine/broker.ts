/**
 * Publish/subscribe between gateway nodes. The local node always fans a message
 * out to its own sockets through uWS topics; the broker only carries it to the
 * other nodes, which then fan it out to theirs. A node subscribes the broker to a
 * logical topic (`u:<user>`, `g:<group>`, `all`) when the topic gets its first
 * local subscriber and unsubscribes when the last one leaves.
 */

/** What crosses nodes: the frame as one MessagePack buffer, encoded once by the publisher. */
export interface BrokerMessage {
  /** Logical topic, e.g. `u:alice`, `g:room:1`, `all`. */
  topic: string;
  /** The server frame, MessagePack-encoded. */
  payload: Uint8Array;
  /** Id of the node that published it; a node ignores its own messages. */
  origin: string;
}

export type BrokerHandler = (message: BrokerMessage) => void;

export interface Broker {
  /** False when there are no other nodes to reach: the hub then skips encoding for the broker. */
  readonly spansNodes: boolean;
  /**
   * Sends the message to every other node subscribed to its topic. Ordering: messages
   * published by one node on one topic arrive in publish order. Delivery is
   * at-most-once across a broker reconnect; the promise rejects when the message
   * could not be handed to the broker, so the caller can tell the sender. Resolves
   * with the number of subscribed nodes the broker handed it to (the publishing node
   * included when it is subscribed to the topic itself); 0 with no other node.
   */
  publish(message: BrokerMessage): Promise<number>;
  /** Starts receiving messages for `topic`. Idempotent. */
  subscribe(topic: string): Promise<void>;
  /** Stops receiving messages for `topic`. Idempotent. */
  unsubscribe(topic: string): Promise<void>;
  /** Registers the single handler for messages from other nodes. */
  onMessage(handler: BrokerHandler): void;
  close(): Promise<void>;
}
