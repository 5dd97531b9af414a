/**
 * Rules that involve more than one key, and the files the configuration names: turns
 * Settings into a Config or throws the first problem as a one-line ConfigError.
 * Key files are read here, at load time, so a bad path stops start-up with one line
 * instead of failing on the first connection.
 */
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { ConfigError, describe, ioReason } from './error.js';
import type { AlertsSettings, AuthSettings, RedisSettings, Settings, TlsSettings } from './schema.js';
import type { AlertsConfig, AuthConfig, Config, JwtAlgorithm, RedisConfig, RedisEndpoint, TlsConfig } from './types.js';
import { formatDuration, formatSize } from './values.js';
import type { JSONWebKeySet } from 'jose';

const HMAC_MIN_BYTES: Partial<Record<JwtAlgorithm, number>> = { HS256: 32, HS384: 48, HS512: 64 };
const DEFAULT_HMAC: readonly JwtAlgorithm[] = ['HS256'];
const DEFAULT_ASYMMETRIC: readonly JwtAlgorithm[] = ['RS256', 'ES256', 'EdDSA'];

export interface FinishOptions {
  /** false only for defaultConfig(): built-in defaults name no key, and no file is read. */
  readonly requireAuthKey: boolean;
}

export function finish(s: Settings, opts: FinishOptions): Config {
  if (s.server.readTimeout < s.server.heartbeatInterval) {
    throw new ConfigError(`ReadTimeout: got ${formatDuration(s.server.readTimeout)}, expected at least HeartbeatInterval (${formatDuration(s.server.heartbeatInterval)}) so that pings keep idle connections open`);
  }
  if (s.limits.maxBackpressure < s.limits.maxMessageBytes) {
    throw new ConfigError(`Limits.MaxBackpressure: got ${formatSize(s.limits.maxBackpressure)}, expected at least Limits.MaxMessageBytes (${formatSize(s.limits.maxMessageBytes)})`);
  }
  if (s.filter.enable && s.filter.wordsFile !== undefined) checkReadable('Filter.WordsFile', s.filter.wordsFile);
  return {
    ...s,
    auth: finishAuth(s.auth, opts),
    tls: finishTls(s.tls),
    redis: s.redis === undefined ? undefined : finishRedis(s.redis),
    alerts: finishAlerts(s.alerts),
  };
}

function finishAlerts(a: AlertsSettings): AlertsConfig {
  if (a.webhook === undefined) return { rules: a.rules, webhook: undefined };
  const { url, timeout, retries } = a.webhook;
  if (url === undefined) {
    throw new ConfigError('Alerts.Webhook.Url: got nothing, expected an http:// or https:// URL; the Webhook section is present, so Url is required (remove the section to only log alerts)');
  }
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch (err) {
    throw new ConfigError(`Alerts.Webhook.Url: got ${describe(url)}, expected an http:// or https:// URL (${err instanceof Error ? err.message : String(err)})`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConfigError(`Alerts.Webhook.Url: got ${describe(url)}, expected an http:// or https:// URL`);
  }
  return { rules: a.rules, webhook: { url, timeout, retries } };
}

function finishAuth(a: AuthSettings, opts: FinishOptions): AuthConfig {
  const keys = { Secret: a.secret, PublicKeyFile: a.publicKeyFile, JwksFile: a.jwksFile };
  const set = Object.entries(keys).filter(([, v]) => v !== undefined).map(([k]) => k);
  if (set.length > 1) throw new ConfigError(`Auth: got ${set.join(' and ')}, expected exactly one of Secret, PublicKeyFile, JwksFile`);
  if (set.length === 0) {
    if (opts.requireAuthKey) throw new ConfigError('Auth: set one of Secret, PublicKeyFile, JwksFile');
    return { ...a, algorithms: a.algorithms ?? DEFAULT_HMAC, publicKeyPem: undefined, jwks: undefined };
  }

  if (a.secret !== undefined) {
    const algorithms = a.algorithms ?? DEFAULT_HMAC;
    const asymmetric = algorithms.filter((alg) => HMAC_MIN_BYTES[alg] === undefined);
    if (asymmetric.length > 0) {
      throw new ConfigError(`Auth.Algorithms: got ${asymmetric.join(', ')} with Auth.Secret, expected only HS256, HS384, HS512 (a shared secret signs HMAC tokens; use PublicKeyFile or JwksFile for others)`);
    }
    checkAlgorithmsNotEmpty(algorithms);
    // RFC 7518 3.2: an HMAC key must be at least as long as the hash output.
    const need = Math.max(...algorithms.map((alg) => HMAC_MIN_BYTES[alg]!));
    const have = Buffer.byteLength(a.secret);
    if (have < need) {
      const strongest = algorithms.find((alg) => HMAC_MIN_BYTES[alg] === need)!;
      throw new ConfigError(`Auth.Secret: got a ${have}-byte secret, expected at least ${need} bytes for ${strongest} (generate one with: openssl rand -base64 48)`);
    }
    return { ...a, algorithms, publicKeyPem: undefined, jwks: undefined };
  }

  const algorithms = a.algorithms ?? DEFAULT_ASYMMETRIC;
  checkAlgorithmsNotEmpty(algorithms);
  const hmac = algorithms.filter((alg) => HMAC_MIN_BYTES[alg] !== undefined);
  const keyName = a.publicKeyFile !== undefined ? 'Auth.PublicKeyFile' : 'Auth.JwksFile';
  if (hmac.length > 0) {
    throw new ConfigError(`Auth.Algorithms: got ${hmac.join(', ')} with ${keyName}, expected only RS256, RS384, RS512, PS256, ES256, ES384, EdDSA (HMAC needs Auth.Secret)`);
  }
  if (a.publicKeyFile !== undefined) {
    const pem = readText('Auth.PublicKeyFile', a.publicKeyFile);
    checkPublicKey(a.publicKeyFile, pem, algorithms);
    return { ...a, algorithms, publicKeyPem: pem, jwks: undefined };
  }
  const jwksFile = a.jwksFile!;
  return { ...a, algorithms, publicKeyPem: undefined, jwks: parseJwks(jwksFile, readText('Auth.JwksFile', jwksFile)) };
}

function checkAlgorithmsNotEmpty(algorithms: readonly JwtAlgorithm[]): void {
  if (algorithms.length === 0) throw new ConfigError('Auth.Algorithms: got an empty list, expected at least one algorithm');
}

/** Algorithms a public key can verify, by key type (and curve for EC keys). */
function algorithmsFor(type: string | undefined, curve: string | undefined): readonly JwtAlgorithm[] {
  switch (type) {
    case 'rsa': return ['RS256', 'RS384', 'RS512', 'PS256'];
    case 'rsa-pss': return ['PS256'];
    case 'ec': return curve === 'prime256v1' ? ['ES256'] : curve === 'secp384r1' ? ['ES384'] : [];
    case 'ed25519':
    case 'ed448': return ['EdDSA'];
    default: return [];
  }
}

/** The PEM must hold a public key that at least one accepted algorithm can use. */
function checkPublicKey(file: string, pem: string, algorithms: readonly JwtAlgorithm[]): void {
  let key;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    throw new ConfigError(`Auth.PublicKeyFile: ${file} is not a PEM public key (${err instanceof Error ? err.message : String(err)})`);
  }
  const type = key.asymmetricKeyType;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  const fits = algorithmsFor(type, curve);
  if (!algorithms.some((alg) => fits.includes(alg))) {
    const what = curve === undefined ? `${type ?? 'unknown'}` : `${type ?? 'unknown'} ${curve}`;
    const use = fits.length === 0 ? 'an RSA, P-256, P-384 or Ed25519 key' : `Auth.Algorithms including one of ${fits.join(', ')}`;
    throw new ConfigError(`Auth.Algorithms: got ${algorithms.join(', ')}, none of which can use the ${what} key in ${file}; expected ${use}`);
  }
}

function parseJwks(file: string, text: string): JSONWebKeySet {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`Auth.JwksFile: ${file} is not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  const keys = (doc as { keys?: unknown } | null)?.keys;
  const valid = Array.isArray(keys) && keys.length > 0
    && keys.every((k) => typeof k === 'object' && k !== null && typeof (k as { kty?: unknown }).kty === 'string');
  if (!valid) throw new ConfigError(`Auth.JwksFile: ${file} is not a JWKS, expected {"keys": [...]} with at least one key, each with a "kty"`);
  return doc as JSONWebKeySet;
}

function finishTls(t: TlsSettings): TlsConfig | undefined {
  if (t.certFile === undefined && t.keyFile === undefined) {
    if (t.passphrase !== undefined) throw new ConfigError('Tls.Passphrase: set without Tls.CertFile and Tls.KeyFile, expected both files with it');
    return undefined;
  }
  if (t.certFile === undefined || t.keyFile === undefined) {
    throw new ConfigError(`Tls: got only ${t.certFile === undefined ? 'KeyFile' : 'CertFile'}, expected both CertFile and KeyFile, or neither`);
  }
  checkReadable('Tls.CertFile', t.certFile);
  checkReadable('Tls.KeyFile', t.keyFile);
  checkCertificate(t.certFile, readText('Tls.CertFile', t.certFile));
  checkPrivateKey(t.keyFile, readText('Tls.KeyFile', t.keyFile), t.passphrase);
  return { certFile: t.certFile, keyFile: t.keyFile, passphrase: t.passphrase };
}

/**
 * uWS reads the TLS files itself and, on a file it cannot parse, fails deep inside
 * the app's constructor; parsing them here turns that into one line naming the key.
 */
function checkCertificate(file: string, pem: string): void {
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new ConfigError(`Tls.CertFile: ${file} is not a PEM certificate (no "-----BEGIN CERTIFICATE-----" block)`);
  }
  try {
    new X509Certificate(pem);
  } catch (err) {
    throw new ConfigError(`Tls.CertFile: ${file} is not a valid PEM certificate (${firstLine(err)})`);
  }
}

function checkPrivateKey(file: string, pem: string, passphrase: string | undefined): void {
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    throw new ConfigError(`Tls.KeyFile: ${file} is not a PEM private key (no "-----BEGIN ... PRIVATE KEY-----" block)`);
  }
  try {
    createPrivateKey(passphrase === undefined ? pem : { key: pem, passphrase });
  } catch (err) {
    const encrypted = /ENCRYPTED/.test(pem);
    const hint = encrypted ? (passphrase === undefined ? '; the key is encrypted: set Tls.Passphrase' : '; check Tls.Passphrase') : '';
    throw new ConfigError(`Tls.KeyFile: ${file} is not a usable PEM private key (${firstLine(err)})${hint}`);
  }
}

function firstLine(err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0]! : String(err);
}

function finishRedis(r: RedisSettings): RedisConfig {
  if (r.host === undefined) {
    throw new ConfigError('Redis.Host: got nothing, expected host:port (e.g. localhost:6379); the Redis section is present, so Host is required (remove the section to run a single node)');
  }
  const parts = r.host.split(',').map((p) => p.trim());
  if (r.type === 'node' && parts.length > 1) {
    throw new ConfigError(`Redis.Host: got ${describe(r.host)}, expected a single host:port (a list of seed nodes needs Redis.Type: cluster)`);
  }
  const endpoints = parts.map((p) => parseEndpoint(p, r.host!));
  if (r.type === 'cluster' && r.db !== 0) {
    throw new ConfigError(`Redis.Db: got ${r.db}, expected 0 with Redis.Type: cluster (a Redis Cluster has only database 0)`);
  }
  return { ...r, host: r.host, endpoints };
}

/** "host:port" or "[v6addr]:port". */
function parseEndpoint(part: string, whole: string): RedisEndpoint {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(part);
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || port < 1 || port > 65535) {
    throw new ConfigError(`Redis.Host: got ${describe(whole)}, expected host:port with a port from 1 to 65535 (e.g. localhost:6379${whole.includes(',') ? ', seeds separated by commas' : ''})`);
  }
  return { host: (m[1] ?? m[2])!, port };
}

function readText(key: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${key}: cannot read ${file}: ${ioReason(err)}`);
  }
}

/** uWS opens TLS files itself; checking here turns its opaque failure into a named one. */
function checkReadable(key: string, file: string): void {
  try {
    accessSync(file, constants.R_OK);
    if (!statSync(file).isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
  } catch (err) {
    throw new ConfigError(`${key}: cannot read ${file}: ${ioReason(err)}`);
  }
}
