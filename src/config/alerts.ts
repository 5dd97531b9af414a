/**
 * The parser of Alerts.Rules: a list of `{Name, Metric, Above, For}` mappings in YAML,
 * or the same list as JSON in SWITCHBOARD_ALERTS__RULES (an environment variable
 * holds one string, and a rule has four keys).
 */
import { type At, ConfigError, invalid } from './error.js';
import { ALERT_METRICS, type AlertMetric, type AlertRule } from './types.js';
import { duration, oneOf, type Parser } from './values.js';

const RULE_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
const RULE_KEYS = ['Name', 'Metric', 'Above', 'For'] as const;
const HOUR = 3_600_000;

const metric = oneOf<AlertMetric>(ALERT_METRICS);
const forDuration = duration(0, 24 * HOUR);

function threshold(raw: unknown, at: At): number {
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+(?:\.\d+)?$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!Number.isFinite(n) || n < 0) throw invalid(at, raw, 'a number of at least 0');
  return n;
}

function rule(raw: unknown, at: At): AlertRule {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw invalid(at, raw, `a mapping with keys ${RULE_KEYS.join(', ')}`);
  }
  const item = raw as Record<string, unknown>;
  for (const key of Object.keys(item)) {
    if (!(RULE_KEYS as readonly string[]).includes(key)) {
      throw new ConfigError(`${at.path}.${key}: unknown key; allowed keys in a rule: ${RULE_KEYS.join(', ')}`);
    }
  }
  for (const key of RULE_KEYS) {
    if (item[key] === undefined || item[key] === null) throw new ConfigError(`${at.path}: missing ${key}; a rule has ${RULE_KEYS.join(', ')}`);
  }
  const name = item['Name'];
  if (typeof name !== 'string' || !RULE_NAME.test(name)) throw invalid({ ...at, path: `${at.path}.Name` }, name, '1 to 64 of A-Z a-z 0-9 _ . : -');
  return {
    name,
    metric: metric(item['Metric'], { ...at, path: `${at.path}.Metric` }),
    above: threshold(item['Above'], { ...at, path: `${at.path}.Above` }),
    for: forDuration(item['For'], { ...at, path: `${at.path}.For` }),
  };
}

/** Alerts.Rules: every rule checked, names unique. */
export const alertRules: Parser<readonly AlertRule[]> = (raw, at) => {
  let items: unknown = raw;
  if (typeof raw === 'string' && at.env !== undefined) {
    try {
      items = raw.trim() === '' ? [] : JSON.parse(raw);
    } catch (err) {
      throw new ConfigError(`${at.path}: ${at.env} is not valid JSON (${err instanceof Error ? err.message : String(err)}); expected a list like [{"Name":"conns","Metric":"connections","Above":9000,"For":"1m"}]`);
    }
  }
  if (!Array.isArray(items)) throw invalid(at, raw, 'a list of rules {Name, Metric, Above, For}');
  const rules = items.map((item, i) => rule(item, { ...at, path: `${at.path}[${i}]` }));
  const seen = new Set<string>();
  for (const [i, r] of rules.entries()) {
    if (seen.has(r.name)) throw new ConfigError(`${at.path}[${i}].Name: got ${JSON.stringify(r.name)} twice, expected unique rule names`);
    seen.add(r.name);
  }
  return rules;
};
