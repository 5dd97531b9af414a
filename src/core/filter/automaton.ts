/**
 * An Aho–Corasick automaton over normalised text: built once from a word list, then
 * scans any string in time linear in its length, whatever the number of words.
 *
 * Normalisation: the text is cut into clusters (a code point plus the combining marks
 * that follow it, half-width voicing marks included); each cluster is mapped to NFKC,
 * then case-folded (upper-cased then lower-cased, so `ß` and `SS` meet at `ss`).
 * Full-width and half-width forms, compatibility ligatures and case therefore match
 * their plain forms: `ＢＡＤ`, `Bad` and `bad` all hit the word `bad`, `ﾊﾞｶ` hits `バカ`.
 * Words are normalised the same way. Working cluster by cluster (rather than on the
 * whole string at once) keeps an exact map from every normalised unit back to the
 * cluster it came from, which masking needs.
 *
 * Matching is by substring, not by word boundary: the language of most word lists
 * this serves (Chinese) has no spaces to mark words.
 */

/** A matched span in the original string: [start, end) in UTF-16 code units, whole code points. */
export interface Span {
  start: number;
  end: number;
}

const ROOT = 0;
/** States this deep or shallower get a dense ASCII row (about 2,000 rows for 10,000 Latin words). */
const DENSE_DEPTH = 2;

/** Normalised form of one code point or cluster, cached: text repeats its characters far more than it varies them. */
const foldCache = new Map<string, string>();
const ASCII_FOLD = new Uint16Array(128);
for (let c = 0; c < 128; c++) ASCII_FOLD[c] = c >= 65 && c <= 90 ? c + 32 : c;

/**
 * Fold of a lone BMP code unit that folds to exactly one unit (the common case for
 * CJK and most scripts): -1 not computed yet, -2 folds to something longer.
 */
const UNIT_FOLD = new Int32Array(0x10000).fill(-1);

function unitFold(c: number): number {
  let f = UNIT_FOLD[c]!;
  if (f === -1) {
    const folded = foldCluster(String.fromCharCode(c));
    f = folded.length === 1 ? folded.charCodeAt(0) : -2;
    UNIT_FOLD[c] = f;
  }
  return f;
}

/** 1 for BMP code units that continue a cluster (combining marks, half-width voicing marks); built on first use. */
let marks: Uint8Array | undefined;

function markTable(): Uint8Array {
  if (marks === undefined) {
    marks = new Uint8Array(0x10000);
    const re = /^\p{M}$/u;
    for (let c = 0x300; c < 0x10000; c++) {
      if (c >= 0xd800 && c <= 0xdfff) continue;
      if (re.test(String.fromCharCode(c))) marks[c] = 1;
    }
    marks[0xff9e] = 1;
    marks[0xff9f] = 1;
  }
  return marks;
}

function isMarkAt(text: string, i: number, table: Uint8Array): boolean {
  const c = text.charCodeAt(i);
  if (c < 0x300) return false;
  if (c >= 0xd800 && c <= 0xdbff) return /^\p{M}$/u.test(String.fromCodePoint(text.codePointAt(i)!));
  return table[c] === 1;
}

/** End (exclusive) of the cluster starting at `i`: one code point and the marks after it. */
function clusterEnd(text: string, i: number, table: Uint8Array): number {
  let end = i + (text.codePointAt(i)! > 0xffff ? 2 : 1);
  while (end < text.length && isMarkAt(text, end, table)) end += text.codePointAt(end)! > 0xffff ? 2 : 1;
  return end;
}

/** NFKC then case fold of one cluster. */
export function foldCluster(cluster: string): string {
  let folded = foldCache.get(cluster);
  if (folded === undefined) {
    folded = cluster.normalize('NFKC').toUpperCase().toLowerCase();
    // Bounded: a hostile client could otherwise fill the cache with every cluster it can think of.
    if (foldCache.size < 65_536) foldCache.set(cluster, folded);
  }
  return folded;
}

/** The normalised form of a whole string, as the automaton sees it. */
export function normalise(text: string): string {
  const table = markTable();
  let out = '';
  for (let i = 0; i < text.length;) {
    const end = clusterEnd(text, i, table);
    out += foldCluster(text.slice(i, end));
    i = end;
  }
  return out;
}

/**
 * The automaton. States are numbered from 0 (the root). Edges out of the root are a
 * dense table over UTF-16 code units (most characters of ordinary text fail there in
 * one array read); edges out of other states are short sorted runs in typed arrays.
 */
export class Automaton {
  /** Number of distinct (normalised, non-empty) words. */
  readonly size: number;
  readonly #rootNext: Int32Array;
  readonly #edgeStart: Int32Array;
  readonly #edgeCount: Int32Array;
  readonly #edgeChar: Uint16Array;
  readonly #edgeTarget: Int32Array;
  readonly #fail: Int32Array;
  /** Length (in normalised units) of the longest word ending at this state, via fail links too; 0: none. */
  readonly #out: Int32Array;
  /** Row in #asciiRows of each shallow state, -1 for deeper ones. */
  readonly #rowOf: Int32Array;
  /**
   * Fully resolved ASCII transitions (fail links already followed) of the states at
   * depth 0 to DENSE_DEPTH: ordinary text keeps the automaton shallow, and there one
   * array read replaces the edge scans and fail hops.
   */
  readonly #asciiRows: Int32Array;
  /** Scratch: source index of each normalised unit of the current scan (mask mode). */
  #sources = new Int32Array(256);

  constructor(words: Iterable<string>) {
    const unique = new Set<string>();
    for (const word of words) {
      const n = normalise(word.trim());
      if (n.length > 0) unique.add(n);
    }
    this.size = unique.size;
    // Build a trie with Map edges first, then flatten.
    const children: Map<number, number>[] = [new Map()];
    const depthEnd: number[] = [0];
    for (const word of unique) {
      let state = ROOT;
      for (let i = 0; i < word.length; i++) {
        const c = word.charCodeAt(i);
        let next = children[state]!.get(c);
        if (next === undefined) {
          next = children.length;
          children.push(new Map());
          depthEnd.push(0);
          children[state]!.set(c, next);
        }
        state = next;
      }
      depthEnd[state] = Math.max(depthEnd[state]!, word.length);
    }
    const n = children.length;
    this.#rootNext = new Int32Array(0x10000);
    this.#edgeStart = new Int32Array(n);
    this.#edgeCount = new Int32Array(n);
    let edges = 0;
    for (const m of children) edges += m.size;
    this.#edgeChar = new Uint16Array(edges);
    this.#edgeTarget = new Int32Array(edges);
    let at = 0;
    for (let s = 0; s < n; s++) {
      const sorted = [...children[s]!.entries()].sort((a, b) => a[0] - b[0]);
      this.#edgeStart[s] = at;
      this.#edgeCount[s] = sorted.length;
      for (const [c, target] of sorted) {
        this.#edgeChar[at] = c;
        this.#edgeTarget[at] = target;
        at += 1;
        if (s === ROOT) this.#rootNext[c] = target;
      }
    }
    // Breadth-first: fail links and inherited outputs.
    this.#fail = new Int32Array(n);
    this.#out = Int32Array.from(depthEnd);
    const queue: number[] = [];
    for (const target of children[ROOT]!.values()) queue.push(target);
    for (let qi = 0; qi < queue.length; qi++) {
      const s = queue[qi]!;
      for (const [c, target] of children[s]!) {
        let f = this.#fail[s]!;
        let next = this.#step(f, c);
        while (next < 0 && f !== ROOT) {
          f = this.#fail[f]!;
          next = this.#step(f, c);
        }
        this.#fail[target] = next < 0 || next === target ? ROOT : next;
        this.#out[target] = Math.max(this.#out[target]!, this.#out[this.#fail[target]!]!);
        queue.push(target);
      }
    }
    // Dense rows, in breadth-first order so that a state's fail target (shallower) is done first.
    const depth = new Int32Array(n);
    for (const target of children[ROOT]!.values()) depth[target] = 1;
    for (const s of queue) for (const target of children[s]!.values()) depth[target] = depth[s]! + 1;
    this.#rowOf = new Int32Array(n).fill(-1);
    const shallow = [ROOT, ...queue.filter((s) => depth[s]! <= DENSE_DEPTH)];
    this.#asciiRows = new Int32Array(shallow.length * 128);
    shallow.forEach((s, row) => {
      this.#rowOf[s] = row;
      for (let c = 0; c < 128; c++) {
        const direct = this.#step(s, c);
        this.#asciiRows[row * 128 + c] = direct >= 0 ? direct
          : s === ROOT ? ROOT : this.#asciiRows[this.#rowOf[this.#fail[s]!]! * 128 + c]!;
      }
    });
  }

  /** The edge out of `state` on unit `c`, or -1. */
  #step(state: number, c: number): number {
    if (state === ROOT) {
      const t = this.#rootNext[c]!;
      return t === 0 ? -1 : t;
    }
    const start = this.#edgeStart[state]!;
    const end = start + this.#edgeCount[state]!;
    for (let i = start; i < end; i++) {
      const ch = this.#edgeChar[i]!;
      if (ch === c) return this.#edgeTarget[i]!;
      if (ch > c) return -1;
    }
    return -1;
  }

  /**
   * Runs the automaton over `text`. Without `spans` it stops at the first match and
   * returns true; with `spans` it collects every match (see spans()). One loop with
   * the fields read into locals and the transition inlined: this is the filter's
   * whole cost, paid for every string of every filtered frame.
   */
  #scan(text: string, spans: Span[] | undefined): boolean {
    const rootNext = this.#rootNext;
    const edgeStart = this.#edgeStart;
    const edgeCount = this.#edgeCount;
    const edgeChar = this.#edgeChar;
    const edgeTarget = this.#edgeTarget;
    const fail = this.#fail;
    const out = this.#out;
    const rowOf = this.#rowOf;
    const asciiRows = this.#asciiRows;
    const table = markTable();
    const len = text.length;
    let sources = this.#sources;
    let units = 0;
    let state = ROOT;
    let folded = '';
    for (let i = 0; i < len;) {
      const c = text.charCodeAt(i);
      let end = i + 1;
      let f = -2;
      // Fast path: a lone code unit not followed by a combining mark folds by table.
      const after = end === len ? 0 : text.charCodeAt(end);
      if (after < 0x300 || !isMarkAt(text, end, table)) {
        f = c < 128 ? ASCII_FOLD[c]! : c >= 0xd800 && c <= 0xdfff ? -2 : unitFold(c);
      }
      let count = 1;
      if (f < 0) {
        end = clusterEnd(text, i, table);
        folded = foldCluster(text.slice(i, end));
        count = folded.length;
      }
      for (let j = 0; j < count; j++) {
        const u = f >= 0 ? f : folded.charCodeAt(j);
        const row = u < 128 ? rowOf[state]! : -1;
        if (row >= 0) state = asciiRows[row * 128 + u]!;
        else for (;;) {
          if (state === ROOT) {
            state = rootNext[u]!;
            break;
          }
          const from = edgeStart[state]!;
          const to = from + edgeCount[state]!;
          let next = -1;
          for (let k = from; k < to; k++) {
            const ch = edgeChar[k]!;
            if (ch >= u) {
              if (ch === u) next = edgeTarget[k]!;
              break;
            }
          }
          if (next >= 0) {
            state = next;
            break;
          }
          state = fail[state]!;
        }
        const length = out[state]!;
        if (spans === undefined) {
          if (length !== 0) return true;
          continue;
        }
        if (units === sources.length) {
          const grown = new Int32Array(sources.length * 2);
          grown.set(sources);
          sources = this.#sources = grown;
        }
        sources[units] = i;
        units += 1;
        if (length !== 0) addSpan(spans, sources[units - length]!, end);
      }
      i = end;
    }
    return false;
  }

  /** True when some word occurs in `text` (after normalisation). */
  test(text: string): boolean {
    return this.size !== 0 && this.#scan(text, undefined);
  }

  /**
   * Every matched span of `text`, in the original string's coordinates, merged where
   * they overlap or touch, in order. A match that starts or ends inside the
   * normalisation of one cluster covers that whole cluster.
   */
  spans(text: string): Span[] {
    const spans: Span[] = [];
    // Most text matches nothing: the cheaper stop-at-first-match scan rules that out first.
    if (this.size !== 0 && this.#scan(text, undefined)) this.#scan(text, spans);
    return spans;
  }
}

/** Adds [start, end) to spans kept sorted by start; matches arrive ordered by end, so only the tail can merge. */
function addSpan(spans: Span[], start: number, end: number): void {
  while (spans.length > 0) {
    const last = spans[spans.length - 1]!;
    if (last.end < start) break;
    spans.pop();
    start = Math.min(start, last.start);
    end = Math.max(end, last.end);
  }
  spans.push({ start, end });
}

/** `text` with every code point inside `spans` replaced by `mask`. */
export function maskSpans(text: string, spans: readonly Span[], mask: string): string {
  let out = '';
  let at = 0;
  for (const { start, end } of spans) {
    out += text.slice(at, start);
    for (let i = start; i < end; i++) {
      out += mask;
      const c = text.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < end) i += 1;
    }
    at = end;
  }
  return out + text.slice(at);
}
