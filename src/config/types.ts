/**
 * The shape of a loaded configuration. Each component receives only its own slice
 * (`config.limits`, `config.auth`, ...). Every object and array in a loaded Config is
 * deeply frozen. Durations are milliseconds, sizes are bytes.
 *
 * The YAML key of each field is its PascalCase form (`maxConnPerUser` ← `MaxConnPerUser`, `ttl` ← `TTL`);
 * the server fields are the top-level keys of the file, every other slice is a section.
 */
import type { JSONWebKeySet } from 'jose';

/** JWT signature algorithms the gateway accepts. */
export const JWT_ALGORITHMS = [
  'HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA',
] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const PER_USER_POLICIES = ['reject', 'evict-oldest'] as const;
export type PerUserPolicy = (typeof PER_USER_POLICIES)[number];

export const OFFLINE_ENGINES = ['journal', 'lmdb', 'memory'] as const;
export type OfflineEngine = (typeof OFFLINE_ENGINES)[number];

export const REDIS_TYPES = ['node', 'cluster'] as const;
export type RedisType = (typeof REDIS_TYPES)[number];

/** What an alert rule watches (see src/metrics/alerts.ts for how each is computed). */
export const ALERT_METRICS = ['connections', 'latency_p99_ms', 'error_rate', 'memory_rss_mb', 'event_loop_p99_ms'] as const;
export type AlertMetric = (typeof ALERT_METRICS)[number];

/** Top-level keys of the file: the listening socket and connection timing. */
export interface ServerConfig {
  /** Default "switchboard". Service name, used as the logger name and in metrics. */
  readonly name: string;
  /** Default "0.0.0.0". Interface to listen on. */
  readonly host: string;
  /** Default 8892. TCP port, 0..65535; 0 picks any free port (tests). */
  readonly port: number;
  /** Default "/ws". URL path of the WebSocket endpoint; starts with "/". */
  readonly path: string;
  /** Default 10000. Most concurrent connections on this node (1..10,000,000); more are refused with SERVER_FULL. */
  readonly maxConn: number;
  /**
   * Default 60000 (60s). A connection that sends nothing for this long is closed.
   * At least heartbeatInterval, at most 960s (the uWS idleTimeout limit); see idleTimeoutSeconds().
   */
  readonly readTimeout: number;
  /** Default 10000 (10s). How long the send buffer may stay over limits.maxBackpressure before the client is closed as a slow consumer. */
  readonly writeTimeout: number;
  /** Default 30000 (30s). A connection quiet this long (no frame from it, no ping to it) is pinged; one that answers nothing for readTimeout is closed. */
  readonly heartbeatInterval: number;
  /** Default 5000 (5s). On SIGTERM, how long to wait for connections to drain before closing them (0..10m). */
  readonly shutdownTimeout: number;
}

/** How clients prove who they are: a JWT verified with exactly one of secret, publicKeyPem, jwks. */
export interface AuthConfig {
  /** No default. Shared HMAC secret (HS* only); at least 32 bytes (48 for HS384, 64 for HS512). */
  readonly secret: string | undefined;
  /** No default. Path of a PEM public key (RS*, PS*, ES*, EdDSA). */
  readonly publicKeyFile: string | undefined;
  /** The text of publicKeyFile, read and checked at load time; undefined when publicKeyFile is unset. */
  readonly publicKeyPem: string | undefined;
  /** No default. Path of a JWKS JSON file (`{ "keys": [...] }`). */
  readonly jwksFile: string | undefined;
  /** The parsed content of jwksFile, read at load time; undefined when jwksFile is unset. */
  readonly jwks: Readonly<JSONWebKeySet> | undefined;
  /**
   * Accepted `alg` values. Default ["HS256"] with a secret, ["RS256", "ES256", "EdDSA"] with a key file or JWKS.
   * Never mixes HMAC with asymmetric algorithms.
   */
  readonly algorithms: readonly JwtAlgorithm[];
  /** No default. When set, the token's `iss` must equal it. */
  readonly issuer: string | undefined;
  /** No default. When set, the token's `aud` must contain it. */
  readonly audience: string | undefined;
  /** Default 5000 (5s). Clock skew allowed when checking `exp` and `nbf`. */
  readonly clockTolerance: number;
  /**
   * Default true. Close a connection with 4011 once its token's `exp` (plus clockTolerance)
   * has passed, unless the client sent a `refresh` frame with a fresh token first.
   * Tokens without `exp` never expire a connection.
   */
  readonly expireConnections: boolean;
}

/** Token-bucket limit on the frames one connection may send. */
export interface RateLimitConfig {
  /** Default 20. Sustained frames per second per connection (a number > 0). */
  readonly messagesPerSecond: number;
  /** Default 40. Bucket size: frames a connection may send at once after being idle (integer ≥ 1). */
  readonly burst: number;
}

/** Per-user, per-connection and per-IP limits. */
export interface LimitsConfig {
  /** Default 5. Concurrent connections one user may hold (1..10000). */
  readonly maxConnPerUser: number;
  /** Default "reject". When a user is at maxConnPerUser: refuse the new connection, or close the oldest one. */
  readonly perUserPolicy: PerUserPolicy;
  /** Default 65536 (64KiB). Largest inbound frame, 64B..16MiB; larger frames close the connection (1009). */
  readonly maxMessageBytes: number;
  /** Default 1048576 (1MiB). Per-connection send buffer limit; at least maxMessageBytes, at most 1GiB. */
  readonly maxBackpressure: number;
  /** Frames per connection. */
  readonly rateLimit: RateLimitConfig;
  /** Default 1000. Concurrent connections from one IP address. */
  readonly maxConnPerIp: number;
  /** Default 200. WebSocket upgrades per second from one IP address (a number > 0). */
  readonly upgradesPerSecondPerIp: number;
  /** Default 100. Groups one connection may be joined to at once. */
  readonly maxGroupsPerConn: number;
  /**
   * Default 120000 (2m). A `message`, `group` or `broadcast` frame resent by the same
   * user with the same `id` (and the same content) within this window is not delivered
   * again; the resend gets the first answer. Cluster-wide in Redis mode.
   */
  readonly dedupWindow: number;
}

export const JOIN_RULES = ['open', 'claim'] as const;
export type JoinRule = (typeof JOIN_RULES)[number];
export const PUBLISH_RULES = ['members', 'claim', 'none'] as const;
export type PublishRule = (typeof PUBLISH_RULES)[number];
export const PRESENCE_RULES = ['members', 'none'] as const;
export type PresenceRule = (typeof PRESENCE_RULES)[number];
export const DIRECT_MESSAGE_POLICIES = ['anyone', 'shared-group', 'none'] as const;
export type DirectMessagePolicy = (typeof DIRECT_MESSAGE_POLICIES)[number];
export const FILTER_ACTIONS = ['reject', 'mask'] as const;
export type FilterAction = (typeof FILTER_ACTIONS)[number];
/** Kinds of frames the content filter can look at (`api` is reserved for an HTTP publish API). */
export const FILTER_TARGETS = ['message', 'group', 'broadcast', 'api'] as const;
export type FilterTarget = (typeof FILTER_TARGETS)[number];

/** How much history a group keeps. */
export interface HistoryLimits {
  /** Messages kept per group (1..100000); the oldest go first. */
  readonly size: number;
  /** Messages older than this (ms) are gone from history. */
  readonly ttl: number;
}

/** One entry of Groups.Rules: what the groups whose name matches `match` allow. */
export interface GroupRule {
  /** Group name, or prefix ending in `*` (`live:*`), or `*` for every group. */
  readonly match: string;
  /** `open`: any authenticated user may join; `claim`: only users whose `groups` claim matches. */
  readonly join: JoinRule;
  /** `members`: any connection that joined; `claim`: users whose `publish` claim matches; `none`: nobody over WebSocket. */
  readonly publish: PublishRule;
  /** `members`: members may query presence and see join/leave events; `none`: hidden. */
  readonly presence: PresenceRule;
  /** No default (unlimited). Most distinct users joined at once; the next join gets GROUP_FULL. */
  readonly maxMembers: number | undefined;
  /** No default (no history). Keep group messages and give them offsets, for recovery and paging. */
  readonly history: HistoryLimits | undefined;
}

/** Who may join which group, and what each group allows. */
export interface GroupsConfig {
  /**
   * Default []. Patterns of groups any authenticated user may join: a group name, or a
   * prefix followed by `*` (`lobby`, `room:*`). `*` may appear only at the end.
   * Each is the same as a rule `{Match: <pattern>, Join: open}` placed after Rules.
   */
  readonly open: readonly string[];
  /** Default []. Ordered rules; the first whose Match fits a group decides for it. */
  readonly rules: readonly GroupRule[];
  /** History kept for `important: true` messages of groups whose rule has no History. */
  readonly importantHistory: HistoryLimits;
}

/** The sensitive-content filter. */
export interface FilterConfig {
  /** Default false. */
  readonly enable: boolean;
  /** Default []. Words or phrases to match (after NFKC normalisation and case folding). */
  readonly words: readonly string[];
  /** No default. A UTF-8 file with one word per line (`#` comments); re-read on SIGHUP. */
  readonly wordsFile: string | undefined;
  /** Default "reject". Refuse the frame (CONTENT_REJECTED), or mask each match and deliver. */
  readonly action: FilterAction;
  /** Default "*". The character (one code point) that replaces each matched code point. */
  readonly mask: string;
  /** Default [message, group, broadcast, api]. Frame kinds the filter looks at. */
  readonly apply: readonly FilterTarget[];
}

/** TLS for the listening socket. Present only when both files are set; files are checked at load time. */
export interface TlsConfig {
  /** Path of the PEM certificate chain. */
  readonly certFile: string;
  /** Path of the PEM private key. */
  readonly keyFile: string;
  /** No default. Passphrase of an encrypted keyFile. */
  readonly passphrase: string | undefined;
}

export interface CompressionConfig {
  /** Default false. Negotiate permessage-deflate (costs CPU and memory per connection; helps text-heavy traffic). */
  readonly enable: boolean;
}

export interface LogConfig {
  /** Default "info". Lowest level written: fatal, error, warn, info, debug, trace or silent. */
  readonly level: LogLevel;
}

export interface PresenceConfig {
  /** Default 5000 (5s). How long a user with no connection stays online (covers reconnects), 0..1h. */
  readonly offlineGrace: number;
  /** Default 1000. Users one connection may watch for status changes (0..100000). */
  readonly maxWatch: number;
  /** Default false. Send join/leave status events to the members of a group. */
  readonly groupEvents: boolean;
}

/** The durable inbox for users who are offline. */
export interface OfflineConfig {
  /**
   * Default "journal": durable, on disk, an append-only log replayed at start (its
   * state, every stored message included, is held in memory). "lmdb": durable, on disk
   * in a B-tree (costs more CPU and latency per message, holds stored messages on disk
   * rather than in memory). "memory" is lost on restart: for tests and development.
   * Switching from lmdb to journal imports the LMDB inbox found in `path` once.
   */
  readonly engine: OfflineEngine;
  /** Default "./data". Directory of the inbox's files (and LMDB's presence and history files), relative to the working directory. */
  readonly path: string;
  /** Default 1000. Messages kept per user (1..1,000,000); the oldest are dropped beyond it. */
  readonly maxPerUser: number;
  /** Default 604800000 (7d). Stored messages older than this are dropped. */
  readonly ttl: number;
  /**
   * Default true. Journal and LMDB engines: acknowledge a stored message only once it
   * is on the disk, so it survives a power loss or OS crash. With false, the ack
   * follows the write to the OS (journal) or the commit (LMDB, whose fsync comes right
   * after): a stored message still survives a crash of the gateway (kill -9), and
   * latency no longer includes the disk's flush.
   */
  readonly fsync: boolean;
  /**
   * Default 3 (ms; 0..1s). Journal and LMDB engines: how long an append waits for
   * others to share its write (one synchronous write, or one commit and fsync, for all
   * of them). Longer: less CPU per message at
   * light and moderate load, and the sender's ack (never the recipient's delivery)
   * later by up to that much. 0: commit on the next event-loop turn.
   */
  readonly commitWindow: number;
}

/** One Redis endpoint parsed from Redis.Host. */
export interface RedisEndpoint {
  readonly host: string;
  readonly port: number;
}

/** Redis connects the nodes of a cluster. Absent (undefined) means a single node with memory engines. */
export interface RedisConfig {
  /** Required. "host:port"; with type "cluster", a comma-separated list of seed nodes. */
  readonly host: string;
  /** Redis.Host parsed: one endpoint for "node", the seeds for "cluster". */
  readonly endpoints: readonly RedisEndpoint[];
  /** Default "node". A single Redis server, or a Redis Cluster. */
  readonly type: RedisType;
  /** No default. AUTH password. */
  readonly password: string | undefined;
  /** Default 0. Database number 0..15 (a Redis Cluster has only 0). */
  readonly db: number;
  /** Default "sb:". Prefix of every key and channel the gateway uses. */
  readonly keyPrefix: string;
}

export interface ClusterConfig {
  /** Default 15000 (15s). A node that has not renewed its lease for this long is considered dead. */
  readonly nodeLease: number;
  /** No default (generated at start-up). This node's id: 1..64 of A-Z a-z 0-9 . _ : - */
  readonly nodeId: string | undefined;
}

export interface MonitorConfig {
  /** Default true. Log one stats line per interval (connections, rates, memory). Alerts are evaluated every interval either way. */
  readonly enable: boolean;
  /** Default 10000 (10s). How often the stats line is written and alert rules are evaluated (100ms..1h). */
  readonly interval: number;
}

/**
 * Memory the gateway gives back after a burst (see HeapCompactor): a reconnect storm
 * leaves the heap full of dead upgrade-time objects that V8 keeps while the node is idle.
 */
export interface HeapConfig {
  /**
   * Default true. Once the node has been quiet for two seconds (event loop busy < 5 %)
   * and V8's heap has grown by compactAfterGrowth, run one full garbage collection that
   * returns the garbage to the OS. It stops the loop for up to ~100 ms (90 ms at 10,000 connections on a slow core), and only
   * while nothing is happening; turn it off where even that matters more than memory.
   */
  readonly compactWhenIdle: boolean;
  /** Default 8 MiB. Heap growth since the last compaction (or the smallest heap since) that makes one worth it (1 MiB..1 GiB). */
  readonly compactAfterGrowth: number;
}

export interface DemoConfig {
  /** Default false. Serve the demo chat page at /demo (on in the development config.yaml; keep it off in production). */
  readonly enable: boolean;
}

/** One alert rule: fires once `metric` has stayed above `above` for `for` ms, resolves once it has stayed at or below it as long. */
export interface AlertRule {
  /** Unique; the `rule` label of switchboard_alert_firing and the `rule` field of webhook posts. */
  readonly name: string;
  readonly metric: AlertMetric;
  /** Threshold in the metric's unit (connections, ms, a fraction 0..1, MiB). */
  readonly above: number;
  /** Milliseconds the value must stay on one side of the threshold before the state changes (0: at the next evaluation). */
  readonly for: number;
}

/** Where alert transitions are POSTed as JSON. */
export interface WebhookConfig {
  /** Required within the section: an http:// or https:// URL. */
  readonly url: string;
  /** Default 5000 (5s). Longest wait for one attempt's answer (100ms..1m). */
  readonly timeout: number;
  /** Default 3. Further attempts after a failed one (0..10), with doubling backoff from 500 ms. */
  readonly retries: number;
}

export interface AlertsConfig {
  /** Default: the four rules of config.yaml (connections, latency, connection error rate, memory). [] turns alerts off. */
  readonly rules: readonly AlertRule[];
  /** undefined: transitions are only logged and shown. */
  readonly webhook: WebhookConfig | undefined;
}

export interface HttpConfig {
  /** Default true. Serve the HTTP API and the admin page (/admin) on the same port as the WebSocket endpoint. */
  readonly enable: boolean;
  /** Default []. Keys accepted by the HTTP API (each at least 16 characters); none configured answers every API route 401. */
  readonly apiKeys: readonly string[];
  /** Default 1048576 (1MiB). Largest request body, 64B..64MiB; a larger one is refused with 413 as soon as its length is known. */
  readonly maxBodyBytes: number;
  /** Default 600000 (10m). How long the answer to a POST with an Idempotency-Key is kept for retries (1s..7d). */
  readonly idempotencyTtl: number;
  /**
   * Default [] (any origin). Origins whose pages may open a WebSocket: exact origins
   * (`https://app.example.com`) or subdomain patterns (`*.example.com`, `https://*.example.com`).
   * An upgrade with another `Origin` is refused with FORBIDDEN; requests without `Origin` (not browsers) are not affected.
   */
  readonly allowedOrigins: readonly string[];
  /**
   * Default [] (trust nobody). Addresses or CIDR blocks of reverse proxies / load balancers.
   * Only for connections from these peers is the client address read from `X-Forwarded-For`
   * (right-most untrusted entry) or `X-Real-IP`; it is what the per-IP limits count.
   */
  readonly trustedProxies: readonly string[];
}

/** The whole configuration, one slice per component. */
export interface Config {
  readonly server: ServerConfig;
  readonly auth: AuthConfig;
  readonly limits: LimitsConfig;
  readonly groups: GroupsConfig;
  /** Default "anyone". Who may send a direct message to whom (top-level key DirectMessages). */
  readonly directMessages: DirectMessagePolicy;
  readonly filter: FilterConfig;
  /** undefined: plain ws:// (TLS terminated elsewhere). */
  readonly tls: TlsConfig | undefined;
  readonly compression: CompressionConfig;
  readonly log: LogConfig;
  readonly presence: PresenceConfig;
  readonly offline: OfflineConfig;
  /** undefined: single node. */
  readonly redis: RedisConfig | undefined;
  readonly cluster: ClusterConfig;
  readonly monitor: MonitorConfig;
  readonly alerts: AlertsConfig;
  readonly http: HttpConfig;
  readonly demo: DemoConfig;
  readonly heap: HeapConfig;
}
