import { open, type Database, type RootDatabase } from 'lmdb';
import type { Logger } from '../../log.js';
import { MemoryPresenceStore, type DurablePresence, type PresenceDurability } from '../memory/presence.js';
import { MAP_RESERVE_BYTES } from './map-reserve.js';
import type {
  ChosenStatus,
  ConnectLimit,
  ConnectResult,
  DisconnectResult,
  NodeLease,
  PresenceRecord,
  PresenceStore,
} from '../presence.js';

/** The sub-database holding one DurablePresence per user id. */
export const PRESENCE_DB_NAME = 'presence';

/** LMDB keys are limited to 1978 bytes; stay well below so the error is ours and clear. */
const MAX_KEY_BYTES = 1024;

export type LmdbPresenceOptions = (
  /** Open (and own) the environment at this directory; created when missing. */
  | { path: string; root?: undefined }
  /**
   * Use an environment someone else opened and will close (so several engines can
   * share one). close() then leaves it open.
   */
  | { root: RootDatabase; path?: undefined }
) & {
  /** Where background write failures are logged. They also make close() reject. */
  logger?: Logger;
};

/**
 * The presence store of a single node whose restarts keep what users would expect to
 * survive. Connections, grace periods and group membership live in memory (they die
 * with the process, so after open every user is offline); lastSeen and the choice of
 * `invisible` live in the `presence` sub-database, so an invisible user stays
 * invisible after a restart and a reconnect.
 *
 * Single-node only, like MemoryPresenceStore, whose semantics this is. LMDB is shared
 * by processes on one host but the connections are not, so two gateways on one
 * directory would each announce the same user.
 *
 * Writes are fire-and-forget and gathered for SAVE_DELAY_MS: no operation waits for
 * the disk, yet reads in this process see every write at once. close() writes and
 * flushes all of them; a kill -9 loses at most the last interval's.
 *
 * Sharing a directory: opening the same path again in the same process (for instance
 * by the inbox engine) is safe, lmdb-js shares one native environment between the
 * handles and closing one handle leaves the others working. The first opener's
 * environment options win, so the store passes none. Passing `{ root }` instead
 * shares one handle explicitly.
 */
export class LmdbPresenceStore implements PresenceStore {
  readonly #memory: MemoryPresenceStore;
  readonly #durable: LmdbDurability;
  /** Closed by close() only when this store opened it. */
  readonly #ownedRoot: RootDatabase | undefined;
  #closing: Promise<void> | undefined;

  private constructor(durable: LmdbDurability, ownedRoot: RootDatabase | undefined) {
    this.#durable = durable;
    this.#ownedRoot = ownedRoot;
    this.#memory = new MemoryPresenceStore({ durability: durable });
  }

  static async open(options: LmdbPresenceOptions): Promise<LmdbPresenceStore> {
    if (options === null || typeof options !== 'object') {
      throw new TypeError('LmdbPresenceStore.open needs { path } or { root }');
    }
    const { path, root, logger } = options;
    if (root !== undefined && path !== undefined) {
      throw new TypeError('LmdbPresenceStore.open takes { path } or { root }, not both');
    }
    if (root === undefined && (typeof path !== 'string' || path.length === 0)) {
      throw new TypeError('LmdbPresenceStore.open needs a non-empty path or a root database');
    }
    const ownedRoot = root === undefined ? open({ path, mapSize: MAP_RESERVE_BYTES }) : undefined;
    const db = (root ?? ownedRoot!).openDB<unknown, string>({ name: PRESENCE_DB_NAME, encoding: 'msgpack' });
    return new LmdbPresenceStore(new LmdbDurability(db, logger), ownedRoot);
  }

  connect(userId: string, connId: string, nodeId: string, now: number, limit?: ConnectLimit): Promise<ConnectResult> {
    return this.#memory.connect(userId, connId, nodeId, now, limit);
  }

  /** Single node: no leases to enforce. */
  heartbeat(nodeId: string, leaseMs: number, now: number): Promise<void> {
    return this.#memory.heartbeat(nodeId, leaseMs, now);
  }

  liveNodes(now: number): Promise<NodeLease[]> {
    return this.#memory.liveNodes(now);
  }

  /** Single node: no other node can die unnoticed. */
  reapDeadNodes(): Promise<string[]> {
    return this.#memory.reapDeadNodes();
  }

  disconnect(userId: string, connId: string, now: number, graceMs: number): Promise<DisconnectResult> {
    return this.#memory.disconnect(userId, connId, now, graceMs);
  }

  expire(userId: string, now: number): Promise<boolean> {
    return this.#memory.expire(userId, now);
  }

  setStatus(userId: string, status: ChosenStatus, now: number): Promise<ChosenStatus | undefined> {
    return this.#memory.setStatus(userId, status, now);
  }

  get(userIds: readonly string[]): Promise<Map<string, PresenceRecord>> {
    return this.#memory.get(userIds);
  }

  join(group: string, userId: string, connId: string): Promise<void> {
    return this.#memory.join(group, userId, connId);
  }

  leave(group: string, userId: string, connId: string): Promise<void> {
    return this.#memory.leave(group, userId, connId);
  }

  members(group: string, limit: number): Promise<{ users: string[]; count: number }> {
    return this.#memory.members(group, limit);
  }

  /**
   * Stops accepting calls, flushes every pending write to disk, then closes the
   * environment if this store opened it. Rejects with the first background write
   * failure, if any, after closing. Idempotent: later calls return the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    await this.#memory.close();
    try {
      await this.#durable.flush();
    } finally {
      await this.#ownedRoot?.close();
    }
    const failure = this.#durable.firstError;
    if (failure !== undefined) {
      throw new Error('presence: a lastSeen/invisible write to LMDB failed', { cause: failure });
    }
  }
}

/**
 * How long saves are gathered before they are written together (ms). A connect burst
 * then costs one write transaction per interval instead of one put, promise and
 * callback per connect and disconnect (a tenth of the upgrade's CPU went there), and a
 * user who connects and leaves within it is written once. The price: a kill -9 forgets
 * the lastSeen (and invisible choice) of the last interval; close() writes everything.
 */
export const SAVE_DELAY_MS = 1000;

/**
 * Records per write transaction. Its callback runs on the main thread: a reconnect
 * storm's 10,000 saves in one callback held the event loop for 46 ms (every live frame
 * waited); 500 take a few milliseconds each, between which the loop runs.
 */
export const WRITE_CHUNK = 500;

/** The PresenceDurability of one LMDB sub-database, with a read-your-writes overlay. */
class LmdbDurability implements PresenceDurability {
  /**
   * Saved records whose write has not committed yet (queued or in flight): load() reads
   * them first, because a read transaction does not see a put until it commits.
   */
  readonly #unsaved = new Map<string, DurablePresence>();
  /** Saved records waiting for the next batch: the latest save of each user wins. */
  #queued = new Map<string, DurablePresence>();
  #timer: NodeJS.Timeout | undefined;
  readonly #inFlight = new Set<Promise<void>>();
  /** The last batch's write: the next one starts after it (see #write). */
  #chain: Promise<void> = Promise.resolve();
  readonly #db: Database<unknown, string>;
  readonly #logger: Logger | undefined;
  firstError: unknown;

  constructor(db: Database<unknown, string>, logger: Logger | undefined) {
    this.#db = db;
    this.#logger = logger?.child({ module: 'presence-lmdb' });
  }

  load(userId: string): DurablePresence | undefined {
    checkKey(userId);
    const unsaved = this.#unsaved.get(userId);
    if (unsaved !== undefined) return unsaved;
    const raw = this.#db.get(userId);
    if (raw === undefined) return undefined;
    const record = decode(raw);
    if (record === undefined) {
      // Not worth failing a connect for: the user starts fresh and the next save repairs it.
      this.#logger?.warn({ userId }, 'ignoring a malformed presence record');
    }
    return record;
  }

  /** Visible to load() at once; written with the others of its interval (SAVE_DELAY_MS). */
  save(userId: string, record: DurablePresence): void {
    checkKey(userId);
    const copy = { lastSeen: record.lastSeen, invisible: record.invisible };
    this.#unsaved.set(userId, copy);
    this.#queued.set(userId, copy);
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.#write(), SAVE_DELAY_MS);
      // A pending write must not keep a process alive on its own; close() writes it.
      this.#timer.unref();
    }
  }

  /**
   * Writes the queued records, WRITE_CHUNK per transaction, one transaction after the
   * other; never rejects (failures are logged and kept). Batches are chained too, so a
   * user's later save is never overtaken by an earlier batch still being written.
   */
  #write(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#queued.size === 0) return;
    const batch = this.#queued;
    this.#queued = new Map();
    const settle = (): void => {
      for (const [userId, copy] of batch) if (this.#unsaved.get(userId) === copy) this.#unsaved.delete(userId);
    };
    const write = this.#chain.then(async () => {
      const records = [...batch];
      for (let i = 0; i < records.length; i += WRITE_CHUNK) {
        const chunk = records.slice(i, i + WRITE_CHUNK);
        try {
          await this.#db.transaction(() => {
            for (const [userId, copy] of chunk) void this.#db.put(userId, copy);
          });
        } catch (err) {
          // The in-memory state stays right for this process; only the restart copy is stale.
          this.firstError ??= err;
          this.#logger?.error({ err, users: chunk.length }, 'presence write failed');
        }
      }
      settle();
    });
    this.#chain = write;
    this.#inFlight.add(write);
    void write.finally(() => this.#inFlight.delete(write));
  }

  /** Writes what is queued now and resolves when every save() made so far is committed and synced to disk. */
  async flush(): Promise<void> {
    this.#write();
    await Promise.all([...this.#inFlight]);
    await this.#db.flushed;
  }
}

function decode(raw: unknown): DurablePresence | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const { lastSeen, invisible } = raw as Record<string, unknown>;
  if (typeof lastSeen !== 'number' || !Number.isFinite(lastSeen) || typeof invisible !== 'boolean') return undefined;
  return { lastSeen, invisible };
}

function checkKey(userId: string): void {
  if (Buffer.byteLength(userId) > MAX_KEY_BYTES) {
    throw new RangeError(`userId is longer than ${MAX_KEY_BYTES} bytes`);
  }
}
