/** The RPC contract between the runner (lib/pool.ts) and a generator process (gen/worker.ts). */
import type { HistSnapshot } from '../lib/hist.js';
import type { CodecName } from './codec.js';

export interface WorkerInit {
  codec: CodecName;
  host: string;
  /** Connection idx goes to ports[idx % ports.length] (several gateway nodes in `cluster`). */
  ports: number[];
  localAddress: string | undefined;
  /** The server's WebSocket path (`/ws` unless --url says otherwise). */
  path: string;
  /** True for a --url host the user named: it need not be loopback (and no source address is bound). */
  remoteHost: boolean;
  /** One token per connection idx (--token-file), overriding `secret`; null: sign with `secret` or none. */
  tokens: string[] | null;
  /** The user of each connection idx (the tokens' `sub`); null: `u<idx>`. */
  users: string[] | null;
  /** JWT secret; null for peers, which take `?user=` instead. */
  secret: string | null;
  /** process.hrtime.bigint() of the runner at start, as a decimal string. */
  clockBase: string;
  /** Decode every delivery (to read `seq` and send inbox acks): for `direct` only. */
  decodeDeliveries: boolean;
}

export interface OpenResult {
  opened: number;
  failed: number;
  reasons: Record<string, number>;
  ms: number;
}

export interface ReplyWait {
  ok: number;
  failed: number;
  reasons: Record<string, number>;
  /** Connection indexes whose request failed (at most the first 1,000). */
  failedIdx: number[];
}

export interface LoadResult {
  /** Messages sent, per source, in the order given. */
  sent: number[];
  ms: number;
}

export interface WorkerStats {
  open: number;
  everOpened: number;
  /** Connections that closed after opening without the generator asking. */
  dropped: number;
  dropReasons: Record<string, number>;
  delivered: number;
  stepDelivered: number;
  /** stepDelivered split by the server node of the receiving connection (ports order). */
  stepByNode: number[];
  /** Shared-clock time of the last delivery since reset (0: none). */
  lastDeliveryAt: number;
  hist: HistSnapshot | null;
  replyHist: HistSnapshot | null;
  repliesOk: number;
  replyErrors: Record<string, number>;
  errorFrames: Record<string, number>;
  others: Record<string, number>;
}
