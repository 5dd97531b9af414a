/**
 * Parsers for single configuration values. Each takes the raw value (a YAML scalar or
 * list, or the string of an environment variable) and returns the typed value or throws
 * a one-line ConfigError naming the key, the bad value and what is allowed.
 *
 * Every parser accepts strings, because environment variables are strings: "5" is an
 * integer, "true" a boolean, "30s" a duration, wherever the value came from.
 */
import { type At, invalid } from './error.js';

export type Parser<T> = (raw: unknown, at: At) => T;

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Record<string, number> = {
  B: 1, KB: 1000, MB: 1000 ** 2, GB: 1000 ** 3, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3,
};
const DECIMAL = /^\d+(?:\.\d+)?$/;
const INTEGER = /^-?\d+$/;

/** A whole number in [min, max]. */
export function int(min: number, max: number): Parser<number> {
  return (raw, at) => {
    const n = toNumber(raw, INTEGER);
    if (n === undefined || !Number.isSafeInteger(n) || n < min || n > max) {
      throw invalid(at, raw, `an integer from ${min} to ${max}`);
    }
    return n;
  };
}

/** A finite number greater than 0 and at most max (rates: fractions allowed). */
export function positive(max: number): Parser<number> {
  return (raw, at) => {
    const n = toNumber(raw, DECIMAL);
    if (n === undefined || !(n > 0) || n > max) throw invalid(at, raw, `a number greater than 0 and at most ${max}`);
    return n;
  };
}

export const bool: Parser<boolean> = (raw, at) => {
  if (typeof raw === 'boolean') return raw;
  if (typeof raw === 'string') {
    const s = raw.trim().toLowerCase();
    if (s === 'true') return true;
    if (s === 'false') return false;
  }
  throw invalid(at, raw, 'true or false');
};

/** One of a fixed set of strings, matched exactly. */
export function oneOf<T extends string>(allowed: readonly T[]): Parser<T> {
  return (raw, at) => {
    if (typeof raw === 'string' && (allowed as readonly string[]).includes(raw.trim())) return raw.trim() as T;
    throw invalid(at, raw, `one of ${allowed.join(', ')}`);
  };
}

/**
 * A string that passes `check` (when given); `expected` describes what passes.
 * Numbers and booleans in YAML are refused rather than turned into strings: `Host: 8080`
 * is far more likely a mistake than a host name.
 */
export function text(expected: string, check?: (s: string) => boolean): Parser<string> {
  return (raw, at) => {
    if (typeof raw !== 'string' || (check !== undefined && !check(raw))) throw invalid(at, raw, expected);
    return raw;
  };
}

/** A non-empty string. */
export const nonEmpty: Parser<string> = text('a non-empty string', (s) => s.trim() !== '');

/**
 * An optional string: the empty string means "not set", so `SWITCHBOARD_AUTH__SECRET=`
 * clears a value the file set (an absent key keeps the file's value).
 */
export function optional(inner: Parser<string> = nonEmpty): Parser<string | undefined> {
  return (raw, at) => (raw === '' ? undefined : inner(raw, at));
}

/**
 * A list of strings. YAML gives a sequence; an environment variable gives one string that
 * is split on commas (items trimmed, empty items dropped, so "" is the empty list).
 * Items are checked by `item` and named `Key[i]` in messages.
 */
export function list<T extends string>(item: Parser<T>, expected: string): Parser<readonly T[]> {
  return (raw, at) => {
    let items: unknown[];
    if (Array.isArray(raw)) items = raw;
    else if (typeof raw === 'string' && at.env !== undefined) items = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
    else throw invalid(at, raw, `a list of ${expected}`);
    return items.map((v, i) => item(v, { ...at, path: `${at.path}[${i}]` }));
  };
}

/**
 * A duration in milliseconds, from `500ms`, `30s`, `2m`, `1h`, `7d` (decimals allowed when
 * the result is whole milliseconds, e.g. `1.5s`) or a bare integer of milliseconds.
 */
export function duration(minMs: number, maxMs: number): Parser<number> {
  return (raw, at) => {
    const ms = parseDuration(raw);
    if (ms === undefined || ms < minMs || ms > maxMs) {
      throw invalid(at, raw, `a duration like 500ms, 30s, 2m, 1h, 7d or integer milliseconds, from ${formatDuration(minMs)} to ${formatDuration(maxMs)}`);
    }
    return ms;
  };
}

/**
 * A size in bytes, from `512B`, `64KiB`, `1MiB`, `1GiB` (powers of 1024), `16KB`, `1MB`,
 * `1GB` (powers of 1000) or a bare integer of bytes. Units are case-sensitive: `kb` is refused
 * rather than guessed.
 */
export function size(minBytes: number, maxBytes: number): Parser<number> {
  return (raw, at) => {
    const bytes = parseSize(raw);
    if (bytes === undefined || bytes < minBytes || bytes > maxBytes) {
      throw invalid(at, raw, `a size like 512B, 64KiB, 1MiB, 16KB or integer bytes, from ${formatSize(minBytes)} to ${formatSize(maxBytes)}`);
    }
    return bytes;
  };
}

/** Milliseconds from a duration value, or undefined when it is not one. */
export function parseDuration(raw: unknown): number | undefined {
  return withUnit(raw, /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/, DURATION_UNITS, 'ms');
}

/** Bytes from a size value, or undefined when it is not one. */
export function parseSize(raw: unknown): number | undefined {
  return withUnit(raw, /^(\d+(?:\.\d+)?)(B|KB|MB|GB|KiB|MiB|GiB)?$/, SIZE_UNITS, 'B');
}

/** The largest unit that divides evenly: 60000 → "1m", 1500 → "1500ms". */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const n = DURATION_UNITS[unit]!;
    if (ms >= n && ms % n === 0) return `${ms / n}${unit}`;
  }
  return `${ms}ms`;
}

/** The largest binary unit that divides evenly: 65536 → "64KiB", 16000 → "16000B". */
export function formatSize(bytes: number): string {
  for (const unit of ['GiB', 'MiB', 'KiB'] as const) {
    const n = SIZE_UNITS[unit]!;
    if (bytes >= n && bytes % n === 0) return `${bytes / n}${unit}`;
  }
  return `${bytes}B`;
}

/**
 * `<number><unit>` or a bare integer in the base unit. The result must be a whole number
 * (no fractional milliseconds or bytes) and a safe integer.
 */
function withUnit(raw: unknown, pattern: RegExp, units: Record<string, number>, base: string): number | undefined {
  if (typeof raw === 'number') return Number.isSafeInteger(raw) && raw >= 0 ? raw : undefined;
  if (typeof raw !== 'string') return undefined;
  const m = pattern.exec(raw.trim());
  if (m === null) return undefined;
  const unit = m[2] ?? base;
  const [whole, fraction = ''] = m[1]!.split('.');
  // A bare number is the base unit and must be whole: "1.5" is ambiguous, "1.5s" is not.
  if (m[2] === undefined && fraction !== '') return undefined;
  const mult = units[unit]!;
  // Exact decimal arithmetic: 1.1 * 1000 is 1100.0000000000002 in floating point.
  const scale = 10 ** fraction.length;
  const fracScaled = Number(fraction || '0') * mult;
  if (fracScaled % scale !== 0) return undefined;
  const value = Number(whole) * mult + fracScaled / scale;
  return Number.isSafeInteger(value) ? value : undefined;
}

function toNumber(raw: unknown, pattern: RegExp): number | undefined {
  if (typeof raw === 'number') return Number.isFinite(raw) ? raw : undefined;
  if (typeof raw === 'string' && pattern.test(raw.trim())) return Number(raw.trim());
  return undefined;
}
