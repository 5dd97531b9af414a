/**
 * The one table of configuration keys: each key's YAML name, default and parser.
 * The YAML file, the environment and the built-in defaults are all read through it,
 * so a key added here is at once settable from the file and from SWITCHBOARD_* variables.
 *
 * The tables are typed against the slices in types.ts (`Fields<T>`): a slice field without
 * a key, or a key whose parser returns the wrong type, fails to compile.
 */
import { alertRules } from './alerts.js';
import {
  type AlertRule, type DirectMessagePolicy, type FilterConfig, type FilterTarget,
  type ClusterConfig, type CompressionConfig, type DemoConfig, type GroupsConfig, type HeapConfig, type HttpConfig, type JwtAlgorithm,
  type LimitsConfig, type LogConfig, type MonitorConfig, type OfflineConfig, type PresenceConfig,
  type RateLimitConfig, type RedisType, type ServerConfig,
  JWT_ALGORITHMS, LOG_LEVELS, OFFLINE_ENGINES, PER_USER_POLICIES, REDIS_TYPES,
  DIRECT_MESSAGE_POLICIES, FILTER_ACTIONS, FILTER_TARGETS,
} from './types.js';
import { groupRules, maskChar, GROUP_PATTERN } from './rules.js';
import { parseOriginRule } from '../core/origins.js';
import { isAddressOrCidr } from '../core/proxies.js';
import {
  type Parser, bool, duration, int, list, nonEmpty, oneOf, optional, positive, size, text,
} from './values.js';

/** A key holding a value. */
export interface LeafSpec<T> {
  /** The key as written in YAML (PascalCase, matched exactly). */
  readonly key: string;
  /** Used when neither the file nor the environment sets the key. */
  readonly default: T;
  readonly parse: Parser<T>;
  /** A credential: error messages never echo it. */
  readonly secret?: true;
}

/** A key holding a mapping of further keys. */
export interface SectionSpec<T> {
  readonly key: string;
  readonly fields: Fields<T>;
  /** An absent optional section yields undefined rather than its defaults. */
  readonly optional?: true;
}

type Spec<V> = [NonNullable<V>] extends [readonly unknown[]] ? LeafSpec<V>
  : [NonNullable<V>] extends [object] ? SectionSpec<NonNullable<V>>
  : LeafSpec<V>;

/** One spec per property of T, keyed by the camelCase property name. */
export type Fields<T> = { readonly [K in keyof T]-?: Spec<T[K]> };

/** The untyped view of a spec that the generic walkers use. */
export type AnySpec = LeafSpec<unknown> | AnySection;
export type AnyFields = Readonly<Record<string, AnySpec>>;
interface AnySection { readonly key: string; readonly fields: AnyFields; readonly optional?: true }

export function isSection(spec: AnySpec): spec is AnySection {
  return 'fields' in spec;
}

// ---- raw settings that checks.ts completes (derived fields, cross-key rules) ----

/** The Auth keys as written; checks.ts reads the key files and picks default algorithms. */
export interface AuthSettings {
  readonly secret: string | undefined;
  readonly publicKeyFile: string | undefined;
  readonly jwksFile: string | undefined;
  /** undefined: not set, the default depends on the kind of key. */
  readonly algorithms: readonly JwtAlgorithm[] | undefined;
  readonly issuer: string | undefined;
  readonly audience: string | undefined;
  readonly clockTolerance: number;
  readonly expireConnections: boolean;
}

export interface TlsSettings {
  readonly certFile: string | undefined;
  readonly keyFile: string | undefined;
  readonly passphrase: string | undefined;
}

export interface RedisSettings {
  readonly host: string | undefined;
  readonly type: RedisType;
  readonly password: string | undefined;
  readonly db: number;
  readonly keyPrefix: string;
}

export interface WebhookSettings {
  readonly url: string | undefined;
  readonly timeout: number;
  readonly retries: number;
}

export interface AlertsSettings {
  readonly rules: readonly AlertRule[];
  readonly webhook: WebhookSettings | undefined;
}

/** Everything the schema yields, before checks.ts turns it into a Config. */
export interface Settings {
  readonly server: ServerConfig;
  readonly auth: AuthSettings;
  readonly limits: LimitsConfig;
  readonly groups: GroupsConfig;
  readonly directMessages: DirectMessagePolicy;
  readonly filter: FilterConfig;
  readonly tls: TlsSettings;
  readonly compression: CompressionConfig;
  readonly log: LogConfig;
  readonly presence: PresenceConfig;
  readonly offline: OfflineConfig;
  readonly redis: RedisSettings | undefined;
  readonly cluster: ClusterConfig;
  readonly monitor: MonitorConfig;
  readonly alerts: AlertsSettings;
  readonly http: HttpConfig;
  readonly demo: DemoConfig;
  readonly heap: HeapConfig;
}

// ---- the tables ----------------------------------------------------------------

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** uWS accepts an idleTimeout of at most 960 seconds. */
export const MAX_READ_TIMEOUT_MS = 960 * SECOND;

const NODE_ID = /^[A-Za-z0-9._:-]{1,64}$/;
const API_KEY = /^\S{16,}$/;

/** The original's four alerts (config.yaml documents the same list). */
export const DEFAULT_ALERT_RULES: readonly AlertRule[] = [
  { name: 'connections_high', metric: 'connections', above: 9000, for: MINUTE },
  { name: 'latency_high', metric: 'latency_p99_ms', above: 500, for: MINUTE },
  { name: 'error_rate_high', metric: 'error_rate', above: 0.05, for: 2 * MINUTE },
  { name: 'memory_high', metric: 'memory_rss_mb', above: 1536, for: 5 * MINUTE },
];

const leaf = <T>(key: string, def: T, parse: Parser<T>): LeafSpec<T> => ({ key, default: def, parse });
const secretLeaf = <T>(key: string, def: T, parse: Parser<T>): LeafSpec<T> => ({ key, default: def, parse, secret: true });
const filePath = optional(text('a file path', (s) => s.trim() !== ''));

/** The top-level keys of the file (the seed's flat layout). */
export const SERVER_FIELDS: Fields<ServerConfig> = {
  name: leaf('Name', 'switchboard', nonEmpty),
  host: leaf('Host', '0.0.0.0', nonEmpty),
  port: leaf('Port', 8892, int(0, 65535)),
  path: leaf('Path', '/ws', text('a URL path starting with "/" and without spaces', (s) => /^\/\S*$/.test(s))),
  maxConn: leaf('MaxConn', 10_000, int(1, 10_000_000)),
  readTimeout: leaf('ReadTimeout', 60 * SECOND, duration(1 * SECOND, MAX_READ_TIMEOUT_MS)),
  writeTimeout: leaf('WriteTimeout', 10 * SECOND, duration(100, 10 * MINUTE)),
  heartbeatInterval: leaf('HeartbeatInterval', 30 * SECOND, duration(100, MAX_READ_TIMEOUT_MS)),
  shutdownTimeout: leaf('ShutdownTimeout', 5 * SECOND, duration(0, 10 * MINUTE)),
};

const rateLimit: Fields<RateLimitConfig> = {
  messagesPerSecond: leaf('MessagesPerSecond', 20, positive(1_000_000)),
  burst: leaf('Burst', 40, int(1, 1_000_000)),
};

/** The sections of the file, keyed by slice name. */
export const SECTIONS: { readonly [K in Exclude<keyof Settings, 'server'>]-?: Spec<Settings[K]> } = {
  auth: {
    key: 'Auth',
    fields: {
      secret: secretLeaf('Secret', undefined, optional(text('a string'))),
      publicKeyFile: leaf('PublicKeyFile', undefined, filePath),
      jwksFile: leaf('JwksFile', undefined, filePath),
      algorithms: leaf<readonly JwtAlgorithm[] | undefined>(
        'Algorithms', undefined, list(oneOf(JWT_ALGORITHMS), `algorithms (${JWT_ALGORITHMS.join(', ')})`)),
      issuer: leaf('Issuer', undefined, optional()),
      audience: leaf('Audience', undefined, optional()),
      clockTolerance: leaf('ClockTolerance', 5 * SECOND, duration(0, HOUR)),
      expireConnections: leaf('ExpireConnections', true, bool),
    },
  },
  limits: {
    key: 'Limits',
    fields: {
      maxConnPerUser: leaf('MaxConnPerUser', 5, int(1, 10_000)),
      perUserPolicy: leaf('PerUserPolicy', 'reject', oneOf(PER_USER_POLICIES)),
      maxMessageBytes: leaf('MaxMessageBytes', 64 * KiB, size(64, 16 * MiB)),
      maxBackpressure: leaf('MaxBackpressure', 1 * MiB, size(64, 1 * GiB)),
      rateLimit: { key: 'RateLimit', fields: rateLimit },
      maxConnPerIp: leaf('MaxConnPerIp', 1000, int(1, 10_000_000)),
      upgradesPerSecondPerIp: leaf('UpgradesPerSecondPerIp', 200, positive(1_000_000)),
      maxGroupsPerConn: leaf('MaxGroupsPerConn', 100, int(1, 100_000)),
      dedupWindow: leaf('DedupWindow', 2 * MINUTE, duration(1 * SECOND, 24 * HOUR)),
    },
  },
  groups: {
    key: 'Groups',
    fields: {
      open: leaf('Open', [], list(
        text('a group name with an optional trailing * (e.g. lobby, room:*)', (s) => s !== '' && GROUP_PATTERN.test(s)),
        'group patterns')),
      rules: leaf('Rules', [], groupRules),
      importantHistory: {
        key: 'ImportantHistory',
        fields: {
          size: leaf('Size', 100, int(1, 100_000)),
          ttl: leaf('TTL', DAY, duration(SECOND, 3650 * DAY)),
        },
      },
    },
  },
  directMessages: leaf('DirectMessages', 'anyone', oneOf(DIRECT_MESSAGE_POLICIES)),
  filter: {
    key: 'Filter',
    fields: {
      enable: leaf('Enable', false, bool),
      words: leaf('Words', [], list(text('a word or phrase', (s) => s.trim() !== ''), 'words')),
      wordsFile: leaf('WordsFile', undefined, filePath),
      action: leaf('Action', 'reject', oneOf(FILTER_ACTIONS)),
      mask: leaf('Mask', '*', maskChar),
      apply: leaf<readonly FilterTarget[]>('Apply', FILTER_TARGETS, list(oneOf(FILTER_TARGETS), `frame kinds (${FILTER_TARGETS.join(', ')})`)),
    },
  },
  tls: {
    key: 'Tls',
    fields: {
      certFile: leaf('CertFile', undefined, filePath),
      keyFile: leaf('KeyFile', undefined, filePath),
      passphrase: secretLeaf('Passphrase', undefined, optional(text('a string'))),
    },
  },
  compression: { key: 'Compression', fields: { enable: leaf('Enable', false, bool) } },
  log: { key: 'Log', fields: { level: leaf('Level', 'info', oneOf(LOG_LEVELS)) } },
  presence: {
    key: 'Presence',
    fields: {
      offlineGrace: leaf('OfflineGrace', 5 * SECOND, duration(0, HOUR)),
      maxWatch: leaf('MaxWatch', 1000, int(0, 100_000)),
      groupEvents: leaf('GroupEvents', false, bool),
    },
  },
  offline: {
    key: 'Offline',
    fields: {
      engine: leaf('Engine', 'journal', oneOf(OFFLINE_ENGINES)),
      path: leaf('Path', './data', nonEmpty),
      maxPerUser: leaf('MaxPerUser', 1000, int(1, 1_000_000)),
      ttl: leaf('TTL', 7 * DAY, duration(100, 3650 * DAY)),
      fsync: leaf('Fsync', true, bool),
      commitWindow: leaf('CommitWindow', 3, duration(0, SECOND)),
    },
  },
  redis: {
    key: 'Redis',
    optional: true,
    fields: {
      // Required within the section; checks.ts says so when it is missing and parses it.
      host: leaf('Host', undefined, optional(text('host:port (e.g. localhost:6379)', (s) => s.trim() !== ''))),
      type: leaf('Type', 'node', oneOf(REDIS_TYPES)),
      password: secretLeaf('Password', undefined, optional(text('a string'))),
      db: leaf('Db', 0, int(0, 15)),
      keyPrefix: leaf('KeyPrefix', 'sb:', text('a string')),
    },
  },
  cluster: {
    key: 'Cluster',
    fields: {
      nodeLease: leaf('NodeLease', 15 * SECOND, duration(100, 10 * MINUTE)),
      nodeId: leaf('NodeId', undefined, optional(text('1 to 64 of A-Z a-z 0-9 . _ : -', (s) => NODE_ID.test(s)))),
    },
  },
  monitor: {
    key: 'Monitor',
    fields: {
      enable: leaf('Enable', true, bool),
      interval: leaf('Interval', 10 * SECOND, duration(100, HOUR)),
    },
  },
  alerts: {
    key: 'Alerts',
    fields: {
      rules: leaf('Rules', DEFAULT_ALERT_RULES, alertRules),
      webhook: {
        key: 'Webhook',
        optional: true,
        fields: {
          // Required within the section; checks.ts says so when it is missing.
          url: leaf('Url', undefined, optional(text('an http:// or https:// URL', (s) => s.trim() !== ''))),
          timeout: leaf('Timeout', 5 * SECOND, duration(100, MINUTE)),
          retries: leaf('Retries', 3, int(0, 10)),
        },
      },
    },
  },
  http: {
    key: 'Http',
    fields: {
      enable: leaf('Enable', true, bool),
      apiKeys: secretLeaf('ApiKeys', [], list(text('a key of at least 16 characters without spaces', (s) => API_KEY.test(s)), 'API keys')),
      maxBodyBytes: leaf('MaxBodyBytes', 1 * MiB, size(64, 64 * MiB)),
      idempotencyTtl: leaf('IdempotencyTtl', 10 * MINUTE, duration(1 * SECOND, 7 * DAY)),
      allowedOrigins: leaf('AllowedOrigins', [], list(
        text('an origin like https://app.example.com or a pattern like *.example.com (scheme optional, no path)', (s) => parseOriginRule(s) !== undefined),
        'origins')),
      trustedProxies: leaf('TrustedProxies', [], list(
        text('an IPv4/IPv6 address or CIDR block like 10.0.0.0/8 or fd00::/8', isAddressOrCidr),
        'addresses or CIDR blocks')),
    },
  },
  demo: { key: 'Demo', fields: { enable: leaf('Enable', false, bool) } },
  heap: {
    key: 'Heap',
    fields: {
      compactWhenIdle: leaf('CompactWhenIdle', true, bool),
      compactAfterGrowth: leaf('CompactAfterGrowth', 8 * MiB, size(1 * MiB, 1 * GiB)),
    },
  },
};

/** The whole file as one section: top-level keys, then the sections. */
export const ROOT_FIELDS: AnyFields = { ...SERVER_FIELDS, ...SECTIONS };
