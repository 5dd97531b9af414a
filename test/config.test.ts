import { execFileSync } from 'node:child_process';
import t, { type Test } from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Config, ConfigError, NON_CONFIG_ENV, defaultConfig, formatDuration, formatSize, idleTimeoutSeconds, loadConfig,
  parseArgs, parseDuration, parseSize,
} from '../src/config.js';

const SECRET = 's'.repeat(32);
const REPO_CONFIG = fileURLToPath(new URL('../config.yaml', import.meta.url));

/** Loads YAML text with a valid secret from the environment, unless the env sets auth itself. */
function load(text = '', env: Record<string, string> = {}): Config {
  return loadConfig({ text, env: { SWITCHBOARD_AUTH__SECRET: SECRET, ...env } });
}

/** Asserts a ConfigError with exactly this one-line message (or matching the pattern). */
function refuses(t: Test, fn: () => unknown, expected: string | RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  t.type(caught, ConfigError, 'throws a ConfigError');
  const message = (caught as Error | undefined)?.message ?? '';
  t.notMatch(message, /\n/, 'message is one line');
  if (typeof expected === 'string') t.equal(message, expected);
  else t.match(message, expected);
}

const EXPECTED_DEFAULTS = {
  server: {
    name: 'switchboard', host: '0.0.0.0', port: 8892, path: '/ws', maxConn: 10000,
    readTimeout: 60000, writeTimeout: 10000, heartbeatInterval: 30000, shutdownTimeout: 5000,
  },
  auth: {
    secret: undefined, publicKeyFile: undefined, publicKeyPem: undefined, jwksFile: undefined, jwks: undefined,
    algorithms: ['HS256'], issuer: undefined, audience: undefined, clockTolerance: 5000, expireConnections: true,
  },
  limits: {
    maxConnPerUser: 5, perUserPolicy: 'reject', maxMessageBytes: 65536, maxBackpressure: 1048576,
    rateLimit: { messagesPerSecond: 20, burst: 40 }, maxConnPerIp: 1000, upgradesPerSecondPerIp: 200,
    maxGroupsPerConn: 100,
    dedupWindow: 120_000,
  },
  groups: { open: [], rules: [], importantHistory: { size: 100, ttl: 86_400_000 } },
  directMessages: 'anyone',
  filter: { enable: false, words: [], wordsFile: undefined, action: 'reject', mask: '*', apply: ['message', 'group', 'broadcast', 'api'] },
  tls: undefined,
  compression: { enable: false },
  log: { level: 'info' },
  presence: { offlineGrace: 5000, maxWatch: 1000, groupEvents: false },
  offline: { engine: 'journal', path: './data', maxPerUser: 1000, ttl: 7 * 86_400_000, fsync: true, commitWindow: 3 },
  redis: undefined,
  cluster: { nodeLease: 15000, nodeId: undefined },
  monitor: { enable: true, interval: 10000 },
  alerts: {
    rules: [
      { name: 'connections_high', metric: 'connections', above: 9000, for: 60000 },
      { name: 'latency_high', metric: 'latency_p99_ms', above: 500, for: 60000 },
      { name: 'error_rate_high', metric: 'error_rate', above: 0.05, for: 120000 },
      { name: 'memory_high', metric: 'memory_rss_mb', above: 1536, for: 300000 },
    ],
    webhook: undefined,
  },
  http: { enable: true, apiKeys: [], maxBodyBytes: 1048576, idempotencyTtl: 600000, allowedOrigins: [], trustedProxies: [] },
  demo: { enable: false },
  heap: { compactWhenIdle: true, compactAfterGrowth: 8 * 1024 * 1024 },
};

t.test('defaults', async (t) => {
  t.strictSame(defaultConfig(), EXPECTED_DEFAULTS, 'defaultConfig() is the documented defaults');
  const loaded = load();
  t.strictSame(loaded, { ...EXPECTED_DEFAULTS, auth: { ...EXPECTED_DEFAULTS.auth, secret: SECRET } },
    'loadConfig with only a secret gives the defaults');
  t.equal(idleTimeoutSeconds(loaded.server), 60);
});

t.test('config.yaml in the repository loads cleanly and matches the defaults except the development Secret, API key and demo page', async (t) => {
  const c = loadConfig({ file: REPO_CONFIG, env: {} });
  t.equal(c.auth.secret, 'change-me-dev-secret-at-least-32-bytes!!');
  t.strictSame(c.http.apiKeys, ['dev-api-key-change-me-0123456789']);
  t.equal(c.demo.enable, true, 'the development file serves the demo page');
  t.strictSame(c, { ...defaultConfig(), auth: { ...defaultConfig().auth, secret: c.auth.secret }, http: { ...defaultConfig().http, apiKeys: c.http.apiKeys }, demo: { enable: true } });
});

t.test('the file overrides defaults; keys it does not name keep them', async (t) => {
  const dir = t.testdir({
    'c.yaml': [
      'Name: edge-1', 'Port: 0', 'ReadTimeout: 2m', 'HeartbeatInterval: 20s',
      'Auth:', `  Secret: "${SECRET}"`, '  Issuer: https://issuer', '  ClockTolerance: 1500ms',
      'Limits:', '  MaxConnPerUser: 2', '  PerUserPolicy: evict-oldest', '  MaxMessageBytes: 16KB',
      '  RateLimit:', '    MessagesPerSecond: 2.5',
      'Groups:', '  Open: [lobby, "room:*"]',
      'Offline:', '  Engine: memory', '  TTL: 1h',
      'Cluster:', '  NodeId: node-a.1',
      'Monitor:', '  Enable: false',
    ].join('\n'),
  });
  const c = loadConfig({ file: join(dir, 'c.yaml'), env: {} });
  t.equal(c.server.name, 'edge-1');
  t.equal(c.server.port, 0);
  t.equal(c.server.readTimeout, 120_000);
  t.equal(c.server.heartbeatInterval, 20_000);
  t.equal(c.server.host, '0.0.0.0', 'untouched top-level key keeps its default');
  t.equal(c.auth.issuer, 'https://issuer');
  t.equal(c.auth.clockTolerance, 1500);
  t.strictSame(c.auth.algorithms, ['HS256']);
  t.equal(c.limits.maxConnPerUser, 2);
  t.equal(c.limits.perUserPolicy, 'evict-oldest');
  t.equal(c.limits.maxMessageBytes, 16000);
  t.strictSame(c.limits.rateLimit, { messagesPerSecond: 2.5, burst: 40 }, 'sibling in a nested section keeps its default');
  t.strictSame(c.groups.open, ['lobby', 'room:*']);
  t.strictSame(c.offline, { engine: 'memory', path: './data', maxPerUser: 1000, ttl: 3_600_000, fsync: true, commitWindow: 3 });
  t.equal(c.cluster.nodeId, 'node-a.1');
  t.equal(c.monitor.enable, false);
  t.equal(c.monitor.interval, 10_000);
  t.equal(idleTimeoutSeconds(c.server), 120);
});

t.test('an empty file, a file of comments and empty keys set nothing', async (t) => {
  t.strictSame(load(''), load('# nothing\n'));
  const c = load('Port:\nLimits:\nRedis:\n');
  t.equal(c.server.port, 8892);
  t.equal(c.limits.maxConnPerUser, 5);
  t.equal(c.redis, undefined, 'an empty Redis section is no Redis section');
});

t.test('environment overrides at every depth', async (t) => {
  const c = load('', {
    SWITCHBOARD_PORT: '9000',
    SWITCHBOARD_READTIMEOUT: '90s',
    SWITCHBOARD_LIMITS__MAXCONNPERUSER: '3',
    SWITCHBOARD_LIMITS__MAXBACKPRESSURE: '2MiB',
    SWITCHBOARD_LIMITS__RATELIMIT__MESSAGESPERSECOND: '50',
    SWITCHBOARD_LIMITS__RATELIMIT__BURST: '7',
    SWITCHBOARD_GROUPS__OPEN: 'lobby, room:* ,,news',
    SWITCHBOARD_COMPRESSION__ENABLE: 'TRUE',
    SWITCHBOARD_LOG__LEVEL: 'debug',
    SWITCHBOARD_HTTP__APIKEYS: 'aaaaaaaaaaaaaaaa,bbbbbbbbbbbbbbbb',
    SWITCHBOARD_AUTH__ALGORITHMS: 'HS256,HS384',
    SWITCHBOARD_AUTH__SECRET: 'x'.repeat(48),
  });
  t.equal(c.server.port, 9000);
  t.equal(c.server.readTimeout, 90_000);
  t.equal(c.limits.maxConnPerUser, 3);
  t.equal(c.limits.maxBackpressure, 2 * 1024 * 1024);
  t.strictSame(c.limits.rateLimit, { messagesPerSecond: 50, burst: 7 });
  t.strictSame(c.groups.open, ['lobby', 'room:*', 'news'], 'lists are comma-separated, trimmed, empty items dropped');
  t.equal(c.compression.enable, true);
  t.equal(c.log.level, 'debug');
  t.strictSame(c.http.apiKeys, ['a'.repeat(16), 'b'.repeat(16)]);
  t.strictSame(c.auth.algorithms, ['HS256', 'HS384']);
  t.strictSame(load('Groups: {Open: [lobby]}', { SWITCHBOARD_GROUPS__OPEN: '' }).groups.open, [], 'an empty variable is the empty list');
});

t.test('SWITCHBOARD_REDIS__* creates the Redis section', async (t) => {
  const c = load('', { SWITCHBOARD_REDIS__HOST: 'redis.internal:6380' });
  t.strictSame(c.redis, {
    host: 'redis.internal:6380', endpoints: [{ host: 'redis.internal', port: 6380 }],
    type: 'node', password: undefined, db: 0, keyPrefix: 'sb:',
  });
  const cl = load('', {
    SWITCHBOARD_REDIS__HOST: 'r1:7000, r2:7001,[::1]:7002', SWITCHBOARD_REDIS__TYPE: 'cluster', SWITCHBOARD_REDIS__KEYPREFIX: '',
  });
  t.strictSame(cl.redis?.endpoints, [{ host: 'r1', port: 7000 }, { host: 'r2', port: 7001 }, { host: '::1', port: 7002 }]);
  t.equal(cl.redis?.keyPrefix, '', 'an empty key prefix is allowed');
  refuses(t, () => load('', { SWITCHBOARD_REDIS__DB: '2' }),
    'config: Redis.Host: got nothing, expected host:port (e.g. localhost:6379); the Redis section is present, so Host is required (remove the section to run a single node)');
});

t.test('precedence: defaults < file < environment', async (t) => {
  const text = 'Port: 7000\nMaxConn: 50\nLimits:\n  RateLimit:\n    Burst: 10\n';
  const fromFile = load(text);
  t.equal(fromFile.server.port, 7000);
  t.equal(fromFile.server.maxConn, 50);
  const both = load(text, { SWITCHBOARD_PORT: '7001', SWITCHBOARD_LIMITS__RATELIMIT__BURST: '11' });
  t.equal(both.server.port, 7001, 'env beats file');
  t.equal(both.limits.rateLimit.burst, 11, 'env beats file in a nested section');
  t.equal(both.server.maxConn, 50, 'file value the env does not name stays');
  t.equal(both.server.writeTimeout, 10_000, 'default the file does not name stays');

  const redis = load('Redis:\n  Host: a:1\n  Db: 3\n', { SWITCHBOARD_REDIS__HOST: 'b:2' });
  t.strictSame([redis.redis?.host, redis.redis?.db], ['b:2', 3], 'env and file merge key by key inside a section');

  // An empty variable clears an optional key the file set, so the env can switch key kinds.
  const dir = t.testdir({ 'k.pem': rsaPublicPem() });
  const switched = loadConfig({
    text: `Auth:\n  Secret: "${SECRET}"\n  Issuer: iss\n`,
    env: { SWITCHBOARD_AUTH__SECRET: '', SWITCHBOARD_AUTH__PUBLICKEYFILE: join(dir, 'k.pem'), SWITCHBOARD_AUTH__ISSUER: '' },
  });
  t.equal(switched.auth.secret, undefined);
  t.equal(switched.auth.issuer, undefined);
  t.strictSame(switched.auth.algorithms, ['RS256', 'ES256', 'EdDSA']);
});

t.test('Alerts: rules from YAML or JSON in the environment, a webhook with a URL, clear errors', async (t) => {
  const yaml = [
    'Alerts:',
    '  Rules:',
    '    - { Name: conns, Metric: connections, Above: 20, For: 1s }',
    '    - { Name: loop, Metric: event_loop_p99_ms, Above: 12.5, For: 0 }',
    '  Webhook:',
    '    Url: https://alerts.example.com/hook?token=abc',
    '    Timeout: 2s',
  ].join('\n');
  const config = load(yaml);
  t.strictSame(config.alerts.rules, [
    { name: 'conns', metric: 'connections', above: 20, for: 1000 },
    { name: 'loop', metric: 'event_loop_p99_ms', above: 12.5, for: 0 },
  ]);
  t.strictSame(config.alerts.webhook, { url: 'https://alerts.example.com/hook?token=abc', timeout: 2000, retries: 3 });
  const fromEnv = load('', { SWITCHBOARD_ALERTS__RULES: '[{"Name":"mem","Metric":"memory_rss_mb","Above":"900","For":"5m"}]' });
  t.strictSame(fromEnv.alerts.rules, [{ name: 'mem', metric: 'memory_rss_mb', above: 900, for: 300000 }]);
  t.strictSame(load('', { SWITCHBOARD_ALERTS__RULES: '' }).alerts.rules, [], 'an empty variable turns alerts off');
  t.strictSame(load('Alerts:\n  Rules: []\n').alerts.rules, []);

  refuses(t, () => load('Alerts:\n  Rules:\n    - { Name: a, Metric: cpu, Above: 1, For: 1s }\n'),
    'config: Alerts.Rules[0].Metric: got "cpu", expected one of connections, latency_p99_ms, error_rate, memory_rss_mb, event_loop_p99_ms');
  refuses(t, () => load('Alerts:\n  Rules:\n    - { Name: a, Metric: connections, Above: 1 }\n'),
    'config: Alerts.Rules[0]: missing For; a rule has Name, Metric, Above, For');
  refuses(t, () => load('Alerts:\n  Rules:\n    - { Name: a, Metric: connections, Above: -1, For: 1s }\n'),
    'config: Alerts.Rules[0].Above: got -1, expected a number of at least 0');
  refuses(t, () => load('Alerts:\n  Rules:\n    - { Name: a, Metric: connections, Above: 1, For: 1s, Severity: high }\n'),
    'config: Alerts.Rules[0].Severity: unknown key; allowed keys in a rule: Name, Metric, Above, For');
  refuses(t, () => load('Alerts:\n  Rules:\n    - { Name: a, Metric: connections, Above: 1, For: 1s }\n    - { Name: a, Metric: error_rate, Above: 0.1, For: 1s }\n'),
    'config: Alerts.Rules[1].Name: got "a" twice, expected unique rule names');
  refuses(t, () => load('', { SWITCHBOARD_ALERTS__RULES: '[{' }), /^config: Alerts\.Rules: SWITCHBOARD_ALERTS__RULES is not valid JSON/);
  refuses(t, () => load('Alerts:\n  Webhook:\n    Timeout: 1s\n'), /^config: Alerts\.Webhook\.Url: got nothing, expected an http:\/\/ or https:\/\/ URL/);
  refuses(t, () => load('Alerts:\n  Webhook:\n    Url: ftp://x/\n'), 'config: Alerts.Webhook.Url: got "ftp://x/", expected an http:// or https:// URL');
  refuses(t, () => load('Alerts:\n  Webhook:\n    Url: http://x/\n    Retries: 11\n'), 'config: Alerts.Webhook.Retries: got 11, expected an integer from 0 to 10');
});

t.test('value errors name the key, the value and what is allowed', async (t) => {
  refuses(t, () => load('Limits:\n  MaxConnPerUser: abc\n'), 'config: Limits.MaxConnPerUser: got "abc", expected an integer from 1 to 10000');
  refuses(t, () => load('Limits:\n  PerUserPolicy: drop\n'), 'config: Limits.PerUserPolicy: got "drop", expected one of reject, evict-oldest');
  refuses(t, () => load('', { SWITCHBOARD_LIMITS__MAXCONNPERUSER: '0' }),
    'config: Limits.MaxConnPerUser: got "0" from SWITCHBOARD_LIMITS__MAXCONNPERUSER, expected an integer from 1 to 10000');
  refuses(t, () => load('Port: 65536'), 'config: Port: got 65536, expected an integer from 0 to 65535');
  refuses(t, () => load('Port: 80.5'), 'config: Port: got 80.5, expected an integer from 0 to 65535');
  refuses(t, () => load('', { SWITCHBOARD_PORT: '' }), 'config: Port: got "" from SWITCHBOARD_PORT, expected an integer from 0 to 65535');
  refuses(t, () => load('Path: ws'), 'config: Path: got "ws", expected a URL path starting with "/" and without spaces');
  refuses(t, () => load('Host: 8080'), 'config: Host: got 8080, expected a non-empty string');
  refuses(t, () => load('Monitor:\n  Enable: yes\n'), 'config: Monitor.Enable: got "yes", expected true or false');
  refuses(t, () => load('Log:\n  Level: verbose\n'), 'config: Log.Level: got "verbose", expected one of fatal, error, warn, info, debug, trace, silent');
  refuses(t, () => load('Limits:\n  RateLimit:\n    MessagesPerSecond: 0\n'),
    'config: Limits.RateLimit.MessagesPerSecond: got 0, expected a number greater than 0 and at most 1000000');
  refuses(t, () => load('Groups:\n  Open: lobby\n'), /^config: Groups\.Open: got "lobby", expected a list of group patterns$/);
  refuses(t, () => load('Groups:\n  Open: [lobby, "a*b"]\n'),
    'config: Groups.Open[1]: got "a*b", expected a group name with an optional trailing * (e.g. lobby, room:*)');
  refuses(t, () => load('Limits: 5'), /^config: Limits: got 5, expected a mapping with keys MaxConnPerUser, PerUserPolicy, /);
  refuses(t, () => load('WriteTimeout: 10x'),
    'config: WriteTimeout: got "10x", expected a duration like 500ms, 30s, 2m, 1h, 7d or integer milliseconds, from 100ms to 10m');
  refuses(t, () => load('Limits:\n  MaxMessageBytes: 32MiB\n'),
    'config: Limits.MaxMessageBytes: got "32MiB", expected a size like 512B, 64KiB, 1MiB, 16KB or integer bytes, from 64B to 16MiB');
  refuses(t, () => load('Cluster:\n  NodeId: "a b"\n'), 'config: Cluster.NodeId: got "a b", expected 1 to 64 of A-Z a-z 0-9 . _ : -');
});

t.test('credentials are never echoed in messages', async (t) => {
  refuses(t, () => load('', { SWITCHBOARD_HTTP__APIKEYS: 'short-key-123' }),
    'config: Http.ApiKeys[0]: got a hidden value of 13 bytes from SWITCHBOARD_HTTP__APIKEYS, expected a key of at least 16 characters without spaces');
  refuses(t, () => loadConfig({ text: 'Auth:\n  Secret: hunter2\n', env: {} }),
    'config: Auth.Secret: got a 7-byte secret, expected at least 32 bytes for HS256 (generate one with: openssl rand -base64 48)');
  refuses(t, () => load('Redis:\n  Host: a:1\n  Password: [p4ss]\n'), 'config: Redis.Password: got a list, expected a string');
});

t.test('cross-key rules', async (t) => {
  refuses(t, () => load('ReadTimeout: 10s'),
    'config: ReadTimeout: got 10s, expected at least HeartbeatInterval (30s) so that pings keep idle connections open');
  refuses(t, () => load('ReadTimeout: 961s'), /^config: ReadTimeout: got "961s", expected a duration .* from 1s to 16m$/);
  t.equal(load('ReadTimeout: 960s').server.readTimeout, 960_000, '960s is the largest ReadTimeout');
  refuses(t, () => load('Limits:\n  MaxBackpressure: 1KiB\n'),
    'config: Limits.MaxBackpressure: got 1KiB, expected at least Limits.MaxMessageBytes (64KiB)');
  refuses(t, () => load('', { SWITCHBOARD_REDIS__HOST: 'a:1,b:2' }),
    'config: Redis.Host: got "a:1,b:2", expected a single host:port (a list of seed nodes needs Redis.Type: cluster)');
  refuses(t, () => load('', { SWITCHBOARD_REDIS__HOST: 'localhost' }),
    'config: Redis.Host: got "localhost", expected host:port with a port from 1 to 65535 (e.g. localhost:6379)');
  refuses(t, () => load('Redis: {Host: "a:1", Type: cluster, Db: 1}'),
    'config: Redis.Db: got 1, expected 0 with Redis.Type: cluster (a Redis Cluster has only database 0)');
});

t.test('idleTimeoutSeconds rounds up and clamps into 8..960', async (t) => {
  t.equal(idleTimeoutSeconds({ readTimeout: 1000 }), 8);
  t.equal(idleTimeoutSeconds({ readTimeout: 8000 }), 8);
  t.equal(idleTimeoutSeconds({ readTimeout: 30_001 }), 31);
  t.equal(idleTimeoutSeconds({ readTimeout: 960_000 }), 960);
  t.equal(idleTimeoutSeconds({ readTimeout: 5_000_000 }), 960);
});

t.test('unknown keys in the file', async (t) => {
  refuses(t, () => load('Limits:\n  MaxConnPerUsr: 3\n'),
    'config: Limits.MaxConnPerUsr: unknown key; allowed keys in Limits: MaxConnPerUser, PerUserPolicy, MaxMessageBytes, MaxBackpressure, RateLimit, MaxConnPerIp, UpgradesPerSecondPerIp, MaxGroupsPerConn, DedupWindow');
  refuses(t, () => load('Limits:\n  RateLimit:\n    Rate: 3\n'),
    'config: Limits.RateLimit.Rate: unknown key; allowed keys in Limits.RateLimit: MessagesPerSecond, Burst');
  refuses(t, () => load('port: 3'), /^config: port: unknown key \(did you mean Port\? keys are case-sensitive\); allowed top-level keys: Name, Host, Port, /);
  refuses(t, () => load('Server:\n  Port: 3\n'), /^config: Server: unknown key; allowed top-level keys: /);
});

t.test('unknown SWITCHBOARD_ variables', async (t) => {
  refuses(t, () => load('', { SWITCHBOARD_LIMITS__MAXCONPERUSER: '3' }),
    'config: SWITCHBOARD_LIMITS__MAXCONPERUSER: unknown setting (SWITCHBOARD_<KEY>__<KEY>, upper case); keys in Limits: MAXCONNPERUSER, PERUSERPOLICY, MAXMESSAGEBYTES, MAXBACKPRESSURE, RATELIMIT, MAXCONNPERIP, UPGRADESPERSECONDPERIP, MAXGROUPSPERCONN, DEDUPWINDOW');
  refuses(t, () => load('', { SWITCHBOARD_LIMITS_MAXCONNPERUSER: '3' }),
    'config: SWITCHBOARD_LIMITS_MAXCONNPERUSER: unknown setting; did you mean SWITCHBOARD_LIMITS__MAXCONNPERUSER?');
  refuses(t, () => load('', { SWITCHBOARD_port: '3' }), 'config: SWITCHBOARD_port: unknown setting; did you mean SWITCHBOARD_PORT?');
  refuses(t, () => load('', { SWITCHBOARD_PORT__X: '3' }), /^config: SWITCHBOARD_PORT__X: unknown setting .*; top-level keys: NAME, HOST, PORT, /);
  refuses(t, () => load('', { SWITCHBOARD_LIMITS__RATELIMIT: '3' }),
    'config: SWITCHBOARD_LIMITS__RATELIMIT: Limits.RateLimit is a section, not a value; set its keys instead, e.g. SWITCHBOARD_LIMITS__RATELIMIT__MESSAGESPERSECOND');
  t.equal(load('', { SWITCHBOARDX: '1', OTHER_PORT: '1' }).server.port, 8892, 'variables without the prefix are ignored');
  t.ok(NON_CONFIG_ENV.has('SWITCHBOARD_ALLOW_UWS_FALLBACK'));
  t.equal(load('', { SWITCHBOARD_ALLOW_UWS_FALLBACK: '1' }).server.port, 8892, 'variables the process reads itself are not refused');
});

t.test('file errors', async (t) => {
  const dir = t.testdir({ 'bad.yaml': 'Port: 1\nLimits:\n  MaxConnPerUser: [1, 2\n', 'dup.yaml': 'Port: 1\nPort: 2\n' });
  const missing = join(dir, 'nope.yaml');
  refuses(t, () => loadConfig({ file: missing, env: {} }), `config: cannot read ${missing}: no such file`);
  refuses(t, () => loadConfig({ file: dir, env: {} }), `config: cannot read ${dir}: is a directory, expected a file`);
  refuses(t, () => loadConfig({ file: join(dir, 'bad.yaml'), env: {} }),
    new RegExp(`^config: ${join(dir, 'bad.yaml').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: invalid YAML at line \\d: `));
  refuses(t, () => loadConfig({ file: join(dir, 'dup.yaml'), env: {} }), `config: ${join(dir, 'dup.yaml')}: invalid YAML at line 2: Map keys must be unique`);
  refuses(t, () => loadConfig({ text: '- 1\n- 2\n', env: {} }), 'config: <text>: expected a mapping of keys at the top level, got a list');
  refuses(t, () => loadConfig({ text: 'Port: *nope\n', env: {} }), /^config: <text>: invalid YAML: Unresolved alias/);
  // The line to fix is the indented one, not the key above it.
  refuses(t, () => loadConfig({ text: 'Port: 1\n  Host: x\n', env: {} }),
    'config: <text>: invalid YAML at line 2: unexpected indentation (a key indented under a key that already has a value)');
  refuses(t, () => loadConfig({ text: '# comment\nAuth:\n  Secret: x\n   Issuer: y\n', env: {} }), /^config: <text>: invalid YAML at line 4: /);
  refuses(t, () => loadConfig({ text: 'Port: 1\nHost: : bad\n', env: {} }), /^config: <text>: invalid YAML at line 2: /);
});

t.test('durations and sizes', async (t) => {
  const durations: [unknown, number | undefined][] = [
    ['30s', 30_000], ['500ms', 500], ['2m', 120_000], ['1h', 3_600_000], ['7d', 604_800_000], ['0', 0], [' 250 ', 250],
    [250, 250], ['1.5s', 1500], ['1.1s', 1100], ['0.001s', 1], ['0.0005s', undefined], ['1.5', undefined], [1.5, undefined],
    ['-1s', undefined], [-5, undefined], ['30 s', undefined], ['30S', undefined], ['1m30s', undefined], ['', undefined],
    ['s', undefined], [true, undefined], [null, undefined], ['99999999999999999d', undefined],
  ];
  for (const [raw, ms] of durations) t.equal(parseDuration(raw), ms, `duration ${JSON.stringify(raw)}`);
  const sizes: [unknown, number | undefined][] = [
    ['64KiB', 65536], ['1MiB', 1048576], ['512B', 512], ['16KB', 16000], ['1MB', 1_000_000], ['1GiB', 1024 ** 3],
    ['1.5KiB', 1536], ['4096', 4096], [4096, 4096], ['0.3B', undefined], ['64kib', undefined], ['64kb', undefined],
    ['64 KiB', undefined], ['1.5', undefined], ['-1B', undefined], ['1TiB', undefined],
  ];
  for (const [raw, bytes] of sizes) t.equal(parseSize(raw), bytes, `size ${JSON.stringify(raw)}`);
  t.equal(formatDuration(90_000), '90s');
  t.equal(formatDuration(1500), '1500ms');
  t.equal(formatSize(65536), '64KiB');
  t.equal(formatSize(16000), '16000B');
  t.equal(load('', { SWITCHBOARD_LIMITS__MAXMESSAGEBYTES: '64' }).limits.maxMessageBytes, 64, 'lower bound is inclusive');
  refuses(t, () => load('', { SWITCHBOARD_LIMITS__MAXMESSAGEBYTES: '63B' }), /MaxMessageBytes: got "63B" from SWITCHBOARD_LIMITS__MAXMESSAGEBYTES, expected a size/);
  t.equal(load('ShutdownTimeout: 0').server.shutdownTimeout, 0, 'zero duration where allowed');
  t.equal(load('', { SWITCHBOARD_OFFLINE__COMMITWINDOW: '0' }).offline.commitWindow, 0, 'a commit window of 0: commit on the next turn');
  t.equal(load('Offline:\n  CommitWindow: 10ms').offline.commitWindow, 10);
  refuses(t, () => load('Offline:\n  CommitWindow: 2s'), /CommitWindow: got "2s".*from 0ms to 1s/);
});

t.test('auth keys', async (t) => {
  refuses(t, () => loadConfig({ env: {} }), 'config: Auth: set one of Secret, PublicKeyFile, JwksFile');
  refuses(t, () => loadConfig({ text: 'Auth: {Secret: ""}', env: {} }), 'config: Auth: set one of Secret, PublicKeyFile, JwksFile');
  t.equal(load('', { SWITCHBOARD_AUTH__SECRET: 'é'.repeat(16) }).auth.secret?.length, 16, 'length is counted in bytes');
  refuses(t, () => load('Auth: {Algorithms: [HS512]}'), /^config: Auth\.Secret: got a 32-byte secret, expected at least 64 bytes for HS512/);
  refuses(t, () => load('Auth: {Algorithms: [HS256, RS256]}'),
    'config: Auth.Algorithms: got RS256 with Auth.Secret, expected only HS256, HS384, HS512 (a shared secret signs HMAC tokens; use PublicKeyFile or JwksFile for others)');
  refuses(t, () => load('Auth: {Algorithms: [HS257]}'), /^config: Auth\.Algorithms\[0\]: got "HS257", expected one of HS256, HS384, /);
  refuses(t, () => load('Auth: {Algorithms: []}'), 'config: Auth.Algorithms: got an empty list, expected at least one algorithm');

  const rsa = rsaPublicPem();
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const ed = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const jwks = JSON.stringify({ keys: [generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' })] });
  const dir = t.testdir({ 'rsa.pem': rsa, 'ec.pem': ec, 'ed.pem': ed, 'jwks.json': jwks, 'junk.pem': 'not a key', 'bad.json': '{"keys": []}' });
  const withKey = (text: string, env: Record<string, string> = {}) => loadConfig({ text, env });

  const r = withKey(`Auth:\n  PublicKeyFile: ${join(dir, 'rsa.pem')}\n`);
  t.equal(r.auth.publicKeyPem, rsa, 'the PEM text is read into the config');
  t.strictSame(r.auth.algorithms, ['RS256', 'ES256', 'EdDSA']);
  t.equal(r.auth.secret, undefined);
  t.equal(withKey('', { SWITCHBOARD_AUTH__PUBLICKEYFILE: join(dir, 'ec.pem'), SWITCHBOARD_AUTH__ALGORITHMS: 'ES256' }).auth.publicKeyPem, ec);
  t.equal(withKey('', { SWITCHBOARD_AUTH__PUBLICKEYFILE: join(dir, 'ed.pem') }).auth.publicKeyPem, ed);
  const j = withKey('', { SWITCHBOARD_AUTH__JWKSFILE: join(dir, 'jwks.json') });
  t.strictSame(j.auth.jwks, JSON.parse(jwks), 'the JWKS is read and parsed');

  const missing = join(dir, 'missing.pem');
  refuses(t, () => withKey('', { SWITCHBOARD_AUTH__PUBLICKEYFILE: missing }), `config: Auth.PublicKeyFile: cannot read ${missing}: no such file`);
  refuses(t, () => withKey('', { SWITCHBOARD_AUTH__JWKSFILE: missing }), `config: Auth.JwksFile: cannot read ${missing}: no such file`);
  refuses(t, () => withKey('', { SWITCHBOARD_AUTH__PUBLICKEYFILE: join(dir, 'junk.pem') }), /^config: Auth\.PublicKeyFile: .*junk\.pem is not a PEM public key/);
  refuses(t, () => withKey('', { SWITCHBOARD_AUTH__JWKSFILE: join(dir, 'bad.json') }), /^config: Auth\.JwksFile: .*bad\.json is not a JWKS/);
  refuses(t, () => withKey('', { SWITCHBOARD_AUTH__JWKSFILE: join(dir, 'junk.pem') }), /^config: Auth\.JwksFile: .*junk\.pem is not valid JSON/);
  refuses(t, () => withKey('', { SWITCHBOARD_AUTH__PUBLICKEYFILE: join(dir, 'rsa.pem'), SWITCHBOARD_AUTH__ALGORITHMS: 'HS256' }),
    'config: Auth.Algorithms: got HS256 with Auth.PublicKeyFile, expected only RS256, RS384, RS512, PS256, ES256, ES384, EdDSA (HMAC needs Auth.Secret)');
  refuses(t, () => withKey('', { SWITCHBOARD_AUTH__PUBLICKEYFILE: join(dir, 'rsa.pem'), SWITCHBOARD_AUTH__ALGORITHMS: 'ES256,EdDSA' }),
    `config: Auth.Algorithms: got ES256, EdDSA, none of which can use the rsa key in ${join(dir, 'rsa.pem')}; expected Auth.Algorithms including one of RS256, RS384, RS512, PS256`);
  refuses(t, () => withKey(`Auth:\n  Secret: "${SECRET}"\n`, { SWITCHBOARD_AUTH__JWKSFILE: join(dir, 'jwks.json') }),
    'config: Auth: got Secret and JwksFile, expected exactly one of Secret, PublicKeyFile, JwksFile');
});

t.test('tls files', async (t) => {
  const dir = t.testdir({ 'junk.pem': 'not a pem file\n' });
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const junk = join(dir, 'junk.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  const encryptedKey = join(dir, 'enc.pem');
  execFileSync('openssl', ['pkey', '-in', key, '-aes256', '-passout', 'pass:secret-pass', '-out', encryptedKey], { stdio: 'ignore' });
  // Not valid PEM: one line naming the key and the file, never a stack trace at start-up.
  refuses(t, () => load('', { SWITCHBOARD_TLS__CERTFILE: junk, SWITCHBOARD_TLS__KEYFILE: key }),
    `config: Tls.CertFile: ${junk} is not a PEM certificate (no "-----BEGIN CERTIFICATE-----" block)`);
  refuses(t, () => load('', { SWITCHBOARD_TLS__CERTFILE: cert, SWITCHBOARD_TLS__KEYFILE: junk }),
    `config: Tls.KeyFile: ${junk} is not a PEM private key (no "-----BEGIN ... PRIVATE KEY-----" block)`);
  refuses(t, () => load('', { SWITCHBOARD_TLS__CERTFILE: key, SWITCHBOARD_TLS__KEYFILE: key }), /^config: Tls\.CertFile: .*key\.pem is not a PEM certificate/);
  refuses(t, () => load('', { SWITCHBOARD_TLS__CERTFILE: cert, SWITCHBOARD_TLS__KEYFILE: encryptedKey }), /^config: Tls\.KeyFile: .*enc\.pem is not a usable PEM private key \(.*\); the key is encrypted: set Tls\.Passphrase$/);
  t.equal(load('', { SWITCHBOARD_TLS__CERTFILE: cert, SWITCHBOARD_TLS__KEYFILE: encryptedKey, SWITCHBOARD_TLS__PASSPHRASE: 'secret-pass' }).tls?.keyFile, encryptedKey, 'an encrypted key with its passphrase loads');
  t.strictSame(load('', { SWITCHBOARD_TLS__CERTFILE: cert, SWITCHBOARD_TLS__KEYFILE: key }).tls, { certFile: cert, keyFile: key, passphrase: undefined });
  refuses(t, () => load('', { SWITCHBOARD_TLS__CERTFILE: cert }), 'config: Tls: got only CertFile, expected both CertFile and KeyFile, or neither');
  refuses(t, () => load('', { SWITCHBOARD_TLS__PASSPHRASE: 'pw' }), 'config: Tls.Passphrase: set without Tls.CertFile and Tls.KeyFile, expected both files with it');
  const missing = join(dir, 'gone.pem');
  refuses(t, () => load('', { SWITCHBOARD_TLS__CERTFILE: cert, SWITCHBOARD_TLS__KEYFILE: missing }), `config: Tls.KeyFile: cannot read ${missing}: no such file`);
  refuses(t, () => load('', { SWITCHBOARD_TLS__CERTFILE: dir, SWITCHBOARD_TLS__KEYFILE: key }), `config: Tls.CertFile: cannot read ${dir}: is a directory, expected a file`);
});

t.test('the result is deeply frozen', async (t) => {
  const dir = t.testdir({ 'jwks.json': JSON.stringify({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'AAAA' }] }) });
  const configs = [
    defaultConfig(),
    loadConfig({ text: `Groups: {Open: [a]}\nAuth: {JwksFile: ${join(dir, 'jwks.json')}}`, env: { SWITCHBOARD_REDIS__HOST: 'a:1' } }),
  ];
  for (const c of configs) {
    const unfrozen: string[] = [];
    const walk = (v: unknown, path: string) => {
      if (typeof v !== 'object' || v === null) return;
      if (!Object.isFrozen(v)) unfrozen.push(path);
      for (const [k, child] of Object.entries(v)) walk(child, `${path}.${k}`);
    };
    walk(c, 'config');
    t.strictSame(unfrozen, [], 'every object and array is frozen');
  }
  const c = configs[1]!;
  t.throws(() => { (c.limits as { maxConnPerUser: number }).maxConnPerUser = 1; }, TypeError);
  t.throws(() => { (c.groups.open as string[]).push('b'); }, TypeError);
  t.throws(() => { (c.auth.jwks!.keys as unknown[]).pop(); }, TypeError);
  t.equal(c.limits.maxConnPerUser, 5);
});

t.test('parseArgs', async (t) => {
  t.strictSame(parseArgs([]), {});
  t.strictSame(parseArgs(['--config', 'a.yaml']), { configFile: 'a.yaml' });
  t.strictSame(parseArgs(['--config=b.yaml']), { configFile: 'b.yaml' });
  refuses(t, () => parseArgs(['--verbose']), 'config: unknown option "--verbose" (usage: switchboard [--config FILE])');
  refuses(t, () => parseArgs(['a.yaml']), 'config: unexpected argument "a.yaml" (usage: switchboard [--config FILE])');
  refuses(t, () => parseArgs(['--config']), 'config: --config needs a file name (usage: switchboard [--config FILE])');
  refuses(t, () => parseArgs(['--config=']), 'config: --config needs a file name (usage: switchboard [--config FILE])');
  t.strictSame(parseArgs(['--help']), { help: true });
  t.strictSame(parseArgs(['-h']), { help: true });
  t.strictSame(parseArgs(['--config', 'x.yaml', '--version']), { version: true });
  t.strictSame(parseArgs(['--bogus', '--help']), { help: true }, '--help wins over anything else');
  refuses(t, () => parseArgs(['--config', '--x']), 'config: --config needs a file name (usage: switchboard [--config FILE])');
  refuses(t, () => parseArgs(['--config=a', '--config=b']), 'config: --config given more than once (usage: switchboard [--config FILE])');
});

function rsaPublicPem(): string {
  return generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
}

// The file is written here rather than in a fixture so that its mode can be changed.
t.test('an unreadable key file is refused', { skip: process.getuid?.() === 0 ? 'root reads any file' : false }, async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'locked.pem');
  writeFileSync(file, rsaPublicPem(), { mode: 0o000 });
  refuses(t, () => loadConfig({ env: { SWITCHBOARD_AUTH__PUBLICKEYFILE: file } }), `config: Auth.PublicKeyFile: cannot read ${file}: permission denied`);
});

t.test('Groups.Rules, Groups.ImportantHistory, DirectMessages and Filter', async (t) => {
  const c = load([
    'Groups:',
    '  Rules:',
    '    - {Match: "live:*", Join: open, Publish: claim, Presence: none, History: {Size: 500, TTL: 2h}}',
    '    - {Match: "lobby:*", Join: open, MaxMembers: 8}',
    '    - {Match: "team:*"}',
    '  ImportantHistory: {Size: 20, TTL: 10m}',
    'DirectMessages: shared-group',
    'Filter: {Enable: true, Words: [bad, 坏蛋], Action: mask, Mask: "#", Apply: [group, message]}',
  ].join('\n'));
  t.strictSame(c.groups.rules, [
    { match: 'live:*', join: 'open', publish: 'claim', presence: 'none', maxMembers: undefined, history: { size: 500, ttl: 7_200_000 } },
    { match: 'lobby:*', join: 'open', publish: 'members', presence: 'members', maxMembers: 8, history: undefined },
    { match: 'team:*', join: 'claim', publish: 'members', presence: 'members', maxMembers: undefined, history: undefined },
  ]);
  t.strictSame(c.groups.importantHistory, { size: 20, ttl: 600_000 });
  t.equal(c.directMessages, 'shared-group');
  t.strictSame(c.filter, { enable: true, words: ['bad', '坏蛋'], wordsFile: undefined, action: 'mask', mask: '#', apply: ['group', 'message'] });
  const env = load('', { SWITCHBOARD_GROUPS__RULES: '[{"Match":"live:*","Join":"open","History":{"Size":3}}]', SWITCHBOARD_DIRECTMESSAGES: 'none' });
  t.strictSame(env.groups.rules[0]!.history, { size: 3, ttl: 86_400_000 }, 'rules as JSON from the environment; History.TTL defaults to 1d');
  t.equal(env.directMessages, 'none');

  refuses(t, () => load('Groups: {Rules: [{Match: "a b"}]}'), /^config: Groups\.Rules\[0\]\.Match: got "a b", expected a group name/);
  refuses(t, () => load('Groups: {Rules: [{Match: "x", Publish: everyone}]}'), /^config: Groups\.Rules\[0\]\.Publish: got "everyone", expected one of members, claim, none$/);
  refuses(t, () => load('Groups: {Rules: [{Match: "x", maxMembers: 3}]}'), /^config: Groups\.Rules\[0\]\.maxMembers: unknown key \(did you mean MaxMembers\?/);
  refuses(t, () => load('Groups: {Rules: [{Match: "x", MaxMembers: 0}]}'), /Groups\.Rules\[0\]\.MaxMembers: got 0/);
  refuses(t, () => load('Groups: {Rules: [{Match: "x", History: {Size: 0}}]}'), /Groups\.Rules\[0\]\.History\.Size: got 0/);
  refuses(t, () => load('Groups: {Rules: [{Match: "x", History: {TTL: 10ms}}]}'), /Groups\.Rules\[0\]\.History\.TTL: got "10ms"/);
  refuses(t, () => load('Groups: {Rules: {Match: x}}'), /Groups\.Rules: got a mapping, expected a list of rules/);
  refuses(t, () => load('', { SWITCHBOARD_GROUPS__RULES: '[{' }), /Groups\.Rules: got .* from SWITCHBOARD_GROUPS__RULES, expected a JSON list of rules/);
  refuses(t, () => load('DirectMessages: friends'), /^config: DirectMessages: got "friends", expected one of anyone, shared-group, none$/);
  refuses(t, () => load('Filter: {Mask: "**"}'), /^config: Filter\.Mask: got "\*\*", expected one character/);
  refuses(t, () => load('Filter: {Apply: [email]}'), /^config: Filter\.Apply\[0\]: got "email", expected one of message, group, broadcast, api$/);
  refuses(t, () => load('Filter: {Action: drop}'), /Filter\.Action: got "drop", expected one of reject, mask/);
  refuses(t, () => load('Filter: {Enable: true, WordsFile: /nonexistent/words.txt}'), /^config: Filter\.WordsFile: cannot read \/nonexistent\/words\.txt: no such file$/);
});
