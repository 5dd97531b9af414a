/**
 * The layers of configuration: the YAML file and the environment, each checked against
 * the schema's key table and merged into one raw tree (later layers replace earlier
 * ones key by key), then turned into typed Settings with defaults filled in.
 */
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { ConfigError, ioReason } from './error.js';
import { type AnyFields, type Settings, ROOT_FIELDS, SERVER_FIELDS, isSection } from './schema.js';

export const ENV_PREFIX = 'SWITCHBOARD_';

/**
 * SWITCHBOARD_* variables that are not configuration keys: the process reads them itself
 * (main.ts), so the loader must not refuse them as typos. Keep this list short; a setting
 * an operator tunes belongs in the schema instead.
 */
export const NON_CONFIG_ENV: ReadonlySet<string> = new Set([
  /** Start on the JavaScript fallback of uWS instead of refusing (see gateway.ts). */
  'SWITCHBOARD_ALLOW_UWS_FALLBACK',
]);

/** A raw value and where it came from. */
interface RawLeaf { readonly value: unknown; readonly env?: string }
/** Keys set so far at one level, by YAML key. */
type RawSection = Map<string, RawLeaf | RawSection>;

/** The merged layers; build() turns it into Settings. */
export class RawTree {
  readonly root: RawSection = new Map();

  /** Adds the keys of a parsed YAML document; `name` is the file name used in messages. */
  addYaml(doc: unknown, name: string): void {
    if (doc === null || doc === undefined) return; // an empty file (or only comments) sets nothing
    if (!isMapping(doc)) {
      throw new ConfigError(`${name}: expected a mapping of keys at the top level, got ${Array.isArray(doc) ? 'a list' : 'a single value'}`);
    }
    mergeMapping(this.root, ROOT_FIELDS, doc, []);
  }

  /**
   * Adds every SWITCHBOARD_* variable. Each must name a key: PREFIX + key path upper-cased,
   * levels joined by "__" (SWITCHBOARD_LIMITS__RATELIMIT__BURST). A variable that names no
   * key is an error, so that a typo never passes silently.
   */
  addEnv(env: NodeJS.ProcessEnv): void {
    const names = Object.keys(env).filter((n) => n.startsWith(ENV_PREFIX) && !NON_CONFIG_ENV.has(n)).sort();
    for (const name of names) {
      const value = env[name];
      if (value === undefined) continue;
      const path = resolveEnvName(name);
      let section = this.root;
      for (const key of path.slice(0, -1)) section = childSection(section, key);
      section.set(path[path.length - 1]!, { value, env: name });
    }
  }

  /** Typed settings: each key parsed from its raw value, or its default when no layer set it. */
  build(): Settings {
    const root = buildSection(ROOT_FIELDS, this.root, []);
    const server: Record<string, unknown> = {};
    const rest: Record<string, unknown> = {};
    for (const [prop, value] of Object.entries(root)) (prop in SERVER_FIELDS ? server : rest)[prop] = value;
    // The tables in schema.ts are typed against Settings, so the walk yields its shape.
    return { server, ...rest } as unknown as Settings;
  }
}

/** Reads and parses a YAML file (or the given text), one-line errors for I/O and syntax. */
export function readYaml(name: string, text: string | undefined): unknown {
  let source = text;
  if (source === undefined) {
    try {
      source = readFileSync(name, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read ${name}: ${ioReason(err)}`);
    }
  }
  const doc = parseDocument(source, { prettyErrors: true, uniqueKeys: true });
  const first = doc.errors[0];
  if (first !== undefined) {
    // A line indented under a key that already has a value ("Port: 1\n  Host: x") is
    // reported by the parser at the start of the previous value, one line too early;
    // the end of its multi-line-key error is the line the operator has to fix.
    const multiline = doc.errors.find((e) => e.code === 'MULTILINE_IMPLICIT_KEY');
    const line = multiline !== undefined ? multiline.linePos?.[1]?.line : first.linePos?.[0].line;
    const what = first.code === 'MULTIPLE_DOCS'
      ? 'more than one document (---), expected one'
      : multiline !== undefined
        ? 'unexpected indentation (a key indented under a key that already has a value)'
        : first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigError(`${name}: invalid YAML${line === undefined ? '' : ` at line ${line}`}: ${what}`);
  }
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // Unresolved aliases and alias bombs surface only here.
    throw new ConfigError(`${name}: invalid YAML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function childSection(section: RawSection, key: string): RawSection {
  const existing = section.get(key);
  if (existing instanceof Map) return existing;
  const created: RawSection = new Map();
  section.set(key, created);
  return created;
}

function specByKey(fields: AnyFields, key: string) {
  for (const spec of Object.values(fields)) if (spec.key === key) return spec;
  return undefined;
}

function mergeMapping(into: RawSection, fields: AnyFields, doc: Record<string, unknown>, path: string[]): void {
  for (const [key, value] of Object.entries(doc)) {
    const here = [...path, key];
    const spec = specByKey(fields, key);
    if (spec === undefined) throw unknownKey(fields, here);
    // `Key:` with nothing after it is the same as leaving the key out.
    if (value === null || value === undefined) continue;
    if (isSection(spec)) {
      if (!isMapping(value)) {
        const got = Array.isArray(value) ? 'a list' : JSON.stringify(value);
        throw new ConfigError(`${here.join('.')}: got ${got}, expected a mapping with keys ${keyList(spec.fields)}`);
      }
      mergeMapping(childSection(into, key), spec.fields, value, here);
    } else {
      into.set(key, { value });
    }
  }
}

function keyList(fields: AnyFields): string {
  return Object.values(fields).map((s) => s.key).join(', ');
}

function unknownKey(fields: AnyFields, path: string[]): ConfigError {
  const key = path[path.length - 1]!;
  const near = Object.values(fields).find((s) => s.key.toLowerCase() === key.toLowerCase());
  const hint = near === undefined ? '' : ` (did you mean ${near.key}? keys are case-sensitive)`;
  const level = path.length === 1 ? 'top-level keys' : `keys in ${path.slice(0, -1).join('.')}`;
  return new ConfigError(`${path.join('.')}: unknown key${hint}; allowed ${level}: ${keyList(fields)}`);
}

/** The YAML key path an environment variable names, or a ConfigError when it names none. */
function resolveEnvName(name: string): string[] {
  const parts = name.slice(ENV_PREFIX.length).split('__');
  const path: string[] = [];
  let fields: AnyFields = ROOT_FIELDS;
  for (let i = 0; i < parts.length; i++) {
    const spec = Object.values(fields).find((s) => s.key.toUpperCase() === parts[i]);
    if (spec === undefined) throw unknownEnv(name, fields, path);
    path.push(spec.key);
    const last = i === parts.length - 1;
    if (isSection(spec)) {
      if (last) {
        throw new ConfigError(`${name}: ${path.join('.')} is a section, not a value; set its keys instead, e.g. ${envName([...path, Object.values(spec.fields)[0]!.key])}`);
      }
      fields = spec.fields;
    } else if (!last) {
      throw unknownEnv(name, fields, path.slice(0, -1));
    }
  }
  return path;
}

function envName(path: readonly string[]): string {
  return ENV_PREFIX + path.map((k) => k.toUpperCase()).join('__');
}

function allEnvNames(fields: AnyFields, path: string[]): string[] {
  return Object.values(fields).flatMap((s) =>
    isSection(s) ? allEnvNames(s.fields, [...path, s.key]) : [envName([...path, s.key])]);
}

function unknownEnv(name: string, fields: AnyFields, path: string[]): ConfigError {
  // The commonest slips are a single "_" between levels and lower case: compare without them.
  const squash = (n: string) => n.replace(/_/g, '').toUpperCase();
  const near = allEnvNames(ROOT_FIELDS, []).find((n) => squash(n) === squash(name));
  if (near !== undefined) return new ConfigError(`${name}: unknown setting; did you mean ${near}?`);
  const level = path.length === 0 ? 'top-level keys' : `keys in ${path.join('.')}`;
  const keys = Object.values(fields).map((s) => s.key.toUpperCase()).join(', ');
  return new ConfigError(`${name}: unknown setting (${ENV_PREFIX}<KEY>__<KEY>, upper case); ${level}: ${keys}`);
}

function buildSection(fields: AnyFields, raw: RawSection | undefined, path: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [prop, spec] of Object.entries(fields)) {
    const here = [...path, spec.key];
    const entry = raw?.get(spec.key);
    if (isSection(spec)) {
      const sub = entry instanceof Map ? entry : undefined;
      out[prop] = sub === undefined && spec.optional === true ? undefined : buildSection(spec.fields, sub, here);
    } else if (entry === undefined || entry instanceof Map) {
      out[prop] = spec.default;
    } else {
      out[prop] = spec.parse(entry.value, { path: here.join('.'), env: entry.env, secret: spec.secret });
    }
  }
  return out;
}
