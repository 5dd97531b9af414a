import { unpackWire } from './client.js';
import type { ClientSocket } from '../../src/core/client-socket.js';
import type { Fanout } from '../../src/core/hub.js';
import type { Broker, BrokerHandler, BrokerMessage } from '../../src/engine/broker.js';

export type Frame = { type: string; id?: string; data?: any };

/**
 * Node-local fan-out over fake sockets: what uWS's app.publish does, in memory, so the
 * core can be driven without a network.
 */
export class FakeFanout implements Fanout {
  readonly #topics = new Map<string, Set<FakeSocket>>();

  publish(topic: string, bytes: Uint8Array | string, binary: boolean): boolean {
    for (const socket of this.#topics.get(topic) ?? []) socket.send(bytes, binary);
    return true;
  }

  numSubscribers(topic: string): number {
    return this.#topics.get(topic)?.size ?? 0;
  }

  /** A new socket attached to this fan-out. */
  socket(): FakeSocket {
    return new FakeSocket(this);
  }

  join(topic: string, socket: FakeSocket): void {
    let set = this.#topics.get(topic);
    if (set === undefined) this.#topics.set(topic, (set = new Set()));
    set.add(socket);
  }

  part(topic: string, socket: FakeSocket): void {
    const set = this.#topics.get(topic);
    set?.delete(socket);
    if (set?.size === 0) this.#topics.delete(topic);
  }
}

/**
 * A ClientSocket that records what the core did to it: frames sent (decoded), pings,
 * the close code. `buffered` is what bufferedAmount() answers; `refuse` makes send()
 * refuse frames as uWS does past its hard limit.
 */
export class FakeSocket implements ClientSocket {
  readonly frames: Frame[] = [];
  readonly topics = new Set<string>();
  pings = 0;
  buffered = 0;
  refuse = false;
  ended: { code: number; reason: string } | undefined;
  terminated = false;
  corks = 0;

  constructor(private readonly fanout: FakeFanout) {}

  send(bytes: Uint8Array | string, binary: boolean): boolean {
    if (this.refuse) return false;
    this.frames.push((binary ? unpackWire(bytes as Uint8Array) : JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'))) as Frame);
    return true;
  }

  bufferedAmount(): number {
    return this.buffered;
  }

  cork(fn: () => void): void {
    this.corks += 1;
    fn();
  }

  subscribe(topic: string): void {
    this.topics.add(topic);
    this.fanout.join(topic, this);
  }

  unsubscribe(topic: string): void {
    this.topics.delete(topic);
    this.fanout.part(topic, this);
  }

  ping(): void {
    this.pings += 1;
  }

  end(code: number, reason: string): void {
    this.ended ??= { code, reason };
  }

  close(): void {
    this.terminated = true;
  }

  /** What uWS does on close: the socket leaves every topic. */
  dropTopics(): void {
    for (const topic of [...this.topics]) this.unsubscribe(topic);
  }

  ofType(type: string): Frame[] {
    return this.frames.filter((f) => f.type === type);
  }
}

/** A promise with its resolve and reject in hand. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * A broker that spans nodes and answers subscribe only when the test says so: every
 * subscribe call waits on a deferred the test settles (`confirm` / `refuse`), so the
 * order "confirmed, then announced" can be observed.
 */
export class ControlledBroker implements Broker {
  readonly spansNodes = true;
  readonly subscribed = new Set<string>();
  readonly calls: { op: 'subscribe' | 'unsubscribe'; topic: string }[] = [];
  readonly published: BrokerMessage[] = [];
  readonly #waiting = new Map<string, ReturnType<typeof deferred<void>>[]>();
  /** When true, subscribe resolves at once (for topics a test does not care about). */
  autoConfirm: (topic: string) => boolean = () => false;
  #handler: BrokerHandler | undefined;

  /** Other nodes a publish reaches (what Redis would report). */
  receivers = 0;

  async publish(message: BrokerMessage): Promise<number> {
    this.published.push(message);
    return this.receivers;
  }

  subscribe(topic: string): Promise<void> {
    this.calls.push({ op: 'subscribe', topic });
    if (this.autoConfirm(topic)) {
      this.subscribed.add(topic);
      return Promise.resolve();
    }
    const d = deferred<void>();
    const list = this.#waiting.get(topic) ?? [];
    list.push(d);
    this.#waiting.set(topic, list);
    return d.promise.then(() => {
      this.subscribed.add(topic);
    });
  }

  async unsubscribe(topic: string): Promise<void> {
    this.calls.push({ op: 'unsubscribe', topic });
    this.subscribed.delete(topic);
  }

  /** Topics with a subscribe call waiting for the test. */
  waiting(topic: string): boolean {
    return (this.#waiting.get(topic)?.length ?? 0) > 0;
  }

  confirm(topic: string): void {
    for (const d of this.#take(topic)) d.resolve();
  }

  refuse(topic: string, err: unknown = new Error('broker refused')): void {
    for (const d of this.#take(topic)) d.reject(err);
  }

  #take(topic: string): ReturnType<typeof deferred<void>>[] {
    const list = this.#waiting.get(topic) ?? [];
    this.#waiting.delete(topic);
    if (list.length === 0) throw new Error(`no subscribe of ${topic} is waiting`);
    return list;
  }

  onMessage(handler: BrokerHandler): void {
    this.#handler = handler;
  }

  inject(message: BrokerMessage): void {
    this.#handler?.(message);
  }

  async close(): Promise<void> {}
}
