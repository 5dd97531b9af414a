/**
 * Micro-benchmark of the content filter's hot path: the cost of checking one ~100-byte
 * chat message against a list of 10,000 words, in reject mode (clean text: the whole
 * message is scanned) and in mask mode (one hit), plus a ~100-byte mixed Chinese/English
 * message. Run: `node --import ./bench/register.mjs bench/filter.ts [--words N] [--seconds S]`.
 * Prints one line per case with ns per message; the target is under 2 µs.
 */
import pino from 'pino';
import { ContentFilter } from '../src/core/filter/content-filter.js';
import type { FilterConfig } from '../src/config.js';
import { GatewayError } from '../src/errors.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : Number(process.argv[i + 1]);
}

const WORDS = arg('words', 10_000);
const SECONDS = arg('seconds', 1);

/** Deterministic pseudo-random words: a mix of Latin and CJK, 4 to 10 characters. */
function wordList(n: number): string[] {
  // xorshift32: the low bits of a plain LCG cycle too soon for the `% n` used here.
  let seed = 42;
  const next = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  const latin = 'abcdefghijklmnopqrstuvwxyz';
  const words = new Set<string>();
  while (words.size < n) {
    const len = 4 + (next() % 7);
    let w = '';
    for (let i = 0; i < len; i++) w += next() % 4 === 0 ? String.fromCharCode(0x4e00 + (next() % 2000)) : latin[next() % 26];
    words.add(w);
  }
  return [...words];
}

const words = wordList(WORDS);
const config = (action: 'reject' | 'mask'): FilterConfig => ({
  enable: true, words, wordsFile: undefined, action, mask: '*', apply: ['message', 'group', 'broadcast', 'api'],
});
const log = pino({ level: 'silent' });

const clean = 'Hey there! Are we still meeting at the cafe around 7pm tonight? Bring the slides, thanks a lot :)';
const hit = `Hey there! Are we still meeting at the cafe around 7pm? ${words[123]} bring the slides, thanks!`;
const mixed = '今天晚上七点在咖啡馆见面吗？记得带上幻灯片 slides，谢谢！See you soon.';

/** 0 for a clean message, 1 for a masked one, 2 for a rejected one. */
function once(filter: ContentFilter, content: unknown): number {
  try {
    return filter.apply('message', content) === content ? 0 : 1;
  } catch (err) {
    if (err instanceof GatewayError && err.code === 'CONTENT_REJECTED') return 2;
    throw err;
  }
}

function measure(name: string, filter: ContentFilter, text: string): number {
  const content = { text };
  let sink = 0;
  // Warm-up: JIT and the fold cache.
  for (let i = 0; i < 20_000; i++) {
    sink += once(filter, content);
  }
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(SECONDS * 1e9));
  let now = start;
  while (now < end) {
    for (let i = 0; i < 1000; i++) {
      sink += once(filter, content);
    }
    n += 1000;
    now = process.hrtime.bigint();
  }
  const ns = Number(now - start) / n;
  process.stdout.write(`${name.padEnd(34)} ${String(Buffer.byteLength(text)).padStart(4)} B  ${ns.toFixed(0).padStart(6)} ns/message  (${sink > 0 ? 'hits' : 'clean'})\n`);
  return ns;
}

const built = process.hrtime.bigint();
const reject = new ContentFilter(config('reject'), log);
const buildMs = Number(process.hrtime.bigint() - built) / 1e6;
const mask = new ContentFilter(config('mask'), log);
process.stdout.write(`content filter, ${reject.size} words (automaton built in ${buildMs.toFixed(0)} ms), node ${process.version}\n`);
const worst = Math.max(
  measure('reject, clean English', reject, clean),
  measure('reject, mixed Chinese/English', reject, mixed),
  measure('reject, one hit', reject, hit),
  measure('mask, clean English', mask, clean),
  measure('mask, one hit', mask, hit),
);
process.stdout.write(`slowest case ${(worst / 1000).toFixed(2)} µs per message (target < 2 µs for a clean message: the common case)\n`);
