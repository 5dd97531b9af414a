import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import pino from 'pino';
import { ContentFilter, readWordsFile } from '../../../src/core/filter/content-filter.js';
import type { FilterConfig } from '../../../src/config.js';

const log = pino({ level: 'silent' });
const config = (over: Partial<FilterConfig> = {}): FilterConfig => ({
  enable: true, words: ['spam', '坏蛋'], wordsFile: undefined, action: 'reject', mask: '*', apply: ['message', 'group', 'broadcast', 'api'], ...over,
});

t.test('reject: every string inside content, keys included; clean content passes untouched', async (t) => {
  const hits: string[] = [];
  const filter = new ContentFilter(config(), log, (a) => hits.push(a));
  const clean = { a: ['x', { b: 'fine' }], n: 1, z: null };
  t.equal(filter.apply('message', clean), clean, 'same reference');
  for (const bad of ['SPAM', ['ok', ['ｓｐａｍ']], { deep: { deeper: '你这个坏蛋' } }, { spam: 1 }]) {
    t.throws(() => filter.apply('group', bad), { code: 'CONTENT_REJECTED' });
  }
  t.same(hits, ['reject', 'reject', 'reject', 'reject']);
  t.equal(filter.apply('message', 42), 42, 'non-string content');
});

t.test('mask: copies what changed, never modifies the input', async (t) => {
  const filter = new ContentFilter(config({ action: 'mask', mask: '█' }), log);
  const input = { text: 'no Spam here', list: ['坏蛋!', 3], keep: { same: 'x' } };
  const snapshot = JSON.stringify(input);
  const out = filter.apply('message', input) as typeof input;
  t.same(out, { text: 'no ████ here', list: ['██!', 3], keep: { same: 'x' } });
  t.equal(JSON.stringify(input), snapshot, 'input untouched');
  t.equal(out.keep, input.keep, 'unchanged branches are shared');
  const keyed = filter.apply('message', { spam: 1 }) as Record<string, unknown>;
  t.same(Object.keys(keyed), ['████']);
});

t.test('apply and enable', async (t) => {
  const filter = new ContentFilter(config({ apply: ['group'] }), log);
  t.equal(filter.apply('message', 'spam'), 'spam', 'not applied to message');
  t.ok(filter.appliesTo('group'));
  const off = new ContentFilter(config({ enable: false }), log);
  t.equal(off.apply('group', 'spam'), 'spam', 'disabled');
  t.equal(off.size, 0);
  t.equal(off.reload(), false);
});

t.test('words file: comments, blanks, reload, and a bad file keeps the old list', async (t) => {
  const dir = t.testdir({ 'words.txt': '# list\n\n  alpha  \nbeta\r\n' });
  const file = join(dir, 'words.txt');
  t.same(readWordsFile(file), ['alpha', 'beta']);
  const lines: unknown[] = [];
  const capture = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const filter = new ContentFilter(config({ words: [], wordsFile: file }), capture);
  t.equal(filter.size, 2);
  writeFileSync(file, 'gamma\n');
  t.equal(filter.reload(), true);
  t.throws(() => filter.apply('message', 'GAMMA'), { code: 'CONTENT_REJECTED' });
  t.equal(filter.apply('message', 'alpha'), 'alpha');
  writeFileSync(file, Buffer.from([0xff, 0xfe]));
  t.equal(filter.reload(), false);
  t.throws(() => filter.apply('message', 'gamma'), { code: 'CONTENT_REJECTED' }, 'old list kept');
  const errors = lines.filter((l) => (l as { level: number }).level === 50);
  t.equal(errors.length, 1, 'one error line');
  t.match((errors[0] as { msg: string }).msg, /reload failed, keeping the previous 1 words: .*not valid UTF-8/);
  t.throws(() => new ContentFilter(config({ words: [], wordsFile: file }), log), /not valid UTF-8/, 'a bad file at start-up stops start-up');
});
