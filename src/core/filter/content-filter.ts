import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { GatewayError } from '../../errors.js';
import type { FilterConfig, FilterTarget } from '../../config.js';
import { Automaton, maskSpans } from './automaton.js';

/** Counts filter hits by action (the metrics registry's labelled counter). */
export type FilterHitCounter = (action: 'reject' | 'mask') => void;

/**
 * Parses a words file: UTF-8, one word or phrase per line, surrounding blanks trimmed;
 * blank lines and lines starting with `#` are ignored.
 * @throws Error with a one-line reason (unreadable file, not UTF-8).
 */
export function readWordsFile(path: string): string[] {
  const bytes = readFileSync(path);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (err) {
    if (err instanceof TypeError) throw new Error(`${path} is not valid UTF-8`);
    throw err;
  }
  const words: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const word = line.trim();
    if (word !== '' && !word.startsWith('#')) words.push(word);
  }
  return words;
}

/**
 * The sensitive-content filter (config `Filter`). Looks at every string inside a
 * frame's `content` (object keys too, nested objects and arrays included) and either
 * refuses the frame with CONTENT_REJECTED or replaces each matched span with the mask
 * character, once per code point, and hands the masked copy on (the input is never
 * modified). Matching is linear in the text length (see automaton.ts).
 *
 * The word list is `Words` plus the lines of `WordsFile`; `reload()` re-reads the
 * file (SIGHUP) and swaps the automaton in one assignment, so frames in flight see
 * either the old list or the new one, never a mix.
 */
export class ContentFilter {
  readonly #settings: FilterConfig;
  readonly #log: Logger;
  readonly #count: FilterHitCounter;
  readonly #applies: ReadonlySet<FilterTarget>;
  /**
   * Thrown for every rejection: an error is a value here, and building a fresh one
   * (with its stack) cost more than the scan itself.
   */
  readonly #rejected = new GatewayError('CONTENT_REJECTED', 'content contains a blocked word');
  #automaton: Automaton;

  /** @throws Error when WordsFile cannot be read at start-up. */
  constructor(settings: FilterConfig, log: Logger, count: FilterHitCounter = () => {}) {
    this.#settings = settings;
    this.#log = log;
    this.#count = count;
    this.#applies = new Set(settings.enable ? settings.apply : []);
    this.#automaton = new Automaton(settings.enable ? this.#words() : []);
    if (settings.enable) log.info({ words: this.#automaton.size, action: settings.action }, 'content filter loaded');
  }

  /** Distinct words in the current list (after normalisation). */
  get size(): number {
    return this.#automaton.size;
  }

  /** Whether frames of `target` pass through the filter. */
  appliesTo(target: FilterTarget): boolean {
    return this.#applies.has(target);
  }

  /**
   * Re-reads WordsFile and rebuilds the automaton. On any failure the old list stays
   * in force and one error line says why. Returns whether the new list took effect.
   */
  reload(): boolean {
    if (!this.#settings.enable) return false;
    let automaton: Automaton;
    try {
      automaton = new Automaton(this.#words());
    } catch (err) {
      this.#log.error(`content filter reload failed, keeping the previous ${this.#automaton.size} words: ${err instanceof Error ? err.message : String(err)}`);
      return false;
    }
    this.#automaton = automaton;
    this.#log.info({ words: automaton.size }, 'content filter word list reloaded');
    return true;
  }

  /**
   * The content to deliver for a frame of `target`: `content` itself when the filter
   * does not apply or nothing matched, a masked copy (Action mask).
   * @throws GatewayError('CONTENT_REJECTED') when something matched and Action is reject.
   */
  apply(target: FilterTarget, content: unknown): unknown {
    if (!this.#applies.has(target)) return content;
    const automaton = this.#automaton;
    if (this.#settings.action === 'reject') {
      if (!contains(automaton, content)) return content;
      this.#count('reject');
      throw this.#rejected;
    }
    const masked = mask(automaton, content, this.#settings.mask);
    if (masked !== content) this.#count('mask');
    return masked;
  }

  #words(): string[] {
    const words = [...this.#settings.words];
    if (this.#settings.wordsFile !== undefined) words.push(...readWordsFile(this.#settings.wordsFile));
    return words;
  }
}

function contains(automaton: Automaton, value: unknown): boolean {
  if (typeof value === 'string') return automaton.test(value);
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return value.some((v) => contains(automaton, v));
  for (const [key, v] of Object.entries(value)) {
    if (automaton.test(key) || contains(automaton, v)) return true;
  }
  return false;
}

/** A masked copy of `value`, or `value` itself (same reference) when nothing in it matched. */
function mask(automaton: Automaton, value: unknown, char: string): unknown {
  if (typeof value === 'string') {
    const spans = automaton.spans(value);
    return spans.length === 0 ? value : maskSpans(value, spans, char);
  }
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v = mask(automaton, value[i], char);
      if (v !== value[i]) (copy ??= value.slice())[i] = v;
    }
    return copy ?? value;
  }
  let changed = false;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const k = mask(automaton, key, char) as string;
    const m = mask(automaton, v, char);
    if (k !== key || m !== v) changed = true;
    // Two keys masked to the same text: the later one wins, as in JSON.parse. Defined,
    // not assigned, so no key (whatever the mask made of it) can reach the prototype.
    Object.defineProperty(out, k, { value: m, enumerable: true, writable: true, configurable: true });
  }
  return changed ? out : value;
}
