/**
 * Parsers for the structured keys of the Groups and Filter sections: Groups.Rules (a
 * list of mappings) and Filter.Mask. From the environment, SWITCHBOARD_GROUPS__RULES
 * holds the list as JSON, e.g. `[{"Match":"live:*","Join":"open","Publish":"claim"}]`.
 */
import { type At, ConfigError, invalid } from './error.js';
import {
  type GroupRule, type HistoryLimits, JOIN_RULES, PRESENCE_RULES, PUBLISH_RULES,
} from './types.js';
import { duration, int, oneOf, type Parser } from './values.js';

const SECOND = 1000;
const DAY = 86_400_000;

/** A group name, or a prefix followed by one trailing `*`. */
export const GROUP_PATTERN = /^[^\s*]*\*?$/;

const RULE_KEYS = ['Match', 'Join', 'Publish', 'Presence', 'MaxMembers', 'History'] as const;
const HISTORY_KEYS = ['Size', 'TTL'] as const;

/** Defaults of a rule's optional keys, and of History's keys. */
export const RULE_DEFAULTS = { join: 'claim', publish: 'members', presence: 'members' } as const;
export const HISTORY_DEFAULTS: HistoryLimits = { size: 100, ttl: DAY };

const historySize = int(1, 100_000);
const historyTtl = duration(SECOND, 3650 * DAY);
const maxMembers = int(1, 10_000_000);

function mapping(raw: unknown, at: At, keys: readonly string[]): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalid(at, raw, `a mapping with keys ${keys.join(', ')}`);
  const m = raw as Record<string, unknown>;
  for (const key of Object.keys(m)) {
    if (!keys.includes(key)) {
      const near = keys.find((k) => k.toLowerCase() === key.toLowerCase());
      const hint = near === undefined ? '' : ` (did you mean ${near}? keys are case-sensitive)`;
      throw new ConfigError(`${at.path}.${key}: unknown key${hint}; allowed keys: ${keys.join(', ')}`);
    }
  }
  return m;
}

function field<T>(m: Record<string, unknown>, key: string, at: At, parse: Parser<T>, def: T): T {
  const raw = m[key];
  return raw === undefined || raw === null ? def : parse(raw, { ...at, path: `${at.path}.${key}` });
}

function history(raw: unknown, at: At): HistoryLimits {
  const m = mapping(raw, at, HISTORY_KEYS);
  return {
    size: field(m, 'Size', at, historySize, HISTORY_DEFAULTS.size),
    ttl: field(m, 'TTL', at, historyTtl, HISTORY_DEFAULTS.ttl),
  };
}

function rule(raw: unknown, at: At): GroupRule {
  const m = mapping(raw, at, RULE_KEYS);
  const match = m['Match'];
  if (typeof match !== 'string' || match === '' || !GROUP_PATTERN.test(match)) {
    throw invalid({ ...at, path: `${at.path}.Match` }, match, 'a group name with an optional trailing * (e.g. lobby, live:*, *)');
  }
  const hist = m['History'];
  return {
    match,
    join: field(m, 'Join', at, oneOf(JOIN_RULES), RULE_DEFAULTS.join),
    publish: field(m, 'Publish', at, oneOf(PUBLISH_RULES), RULE_DEFAULTS.publish),
    presence: field(m, 'Presence', at, oneOf(PRESENCE_RULES), RULE_DEFAULTS.presence),
    maxMembers: field<number | undefined>(m, 'MaxMembers', at, maxMembers, undefined),
    history: hist === undefined || hist === null ? undefined : history(hist, { ...at, path: `${at.path}.History` }),
  };
}

/** Groups.Rules: a list of rule mappings (YAML), or the same list as JSON text (environment). */
export const groupRules: Parser<readonly GroupRule[]> = (raw, at) => {
  let items = raw;
  if (typeof raw === 'string') {
    if (raw.trim() === '') return [];
    try {
      items = JSON.parse(raw);
    } catch (err) {
      throw invalid(at, raw, `a JSON list of rules (${err instanceof Error ? err.message : String(err)})`);
    }
  }
  if (!Array.isArray(items)) throw invalid(at, raw, 'a list of rules {Match, Join, Publish, Presence, MaxMembers, History}');
  return items.map((item, i) => rule(item, { ...at, path: `${at.path}[${i}]` }));
};

/** Filter.Mask: exactly one character (one code point, not a line break). */
export const maskChar: Parser<string> = (raw, at) => {
  if (typeof raw !== 'string' || [...raw].length !== 1 || /[\r\n]/.test(raw)) throw invalid(at, raw, 'one character, e.g. "*"');
  return raw;
};
