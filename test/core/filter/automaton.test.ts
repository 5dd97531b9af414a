import t from 'tap';
import { Automaton, maskSpans, normalise } from '../../../src/core/filter/automaton.js';

t.test('normalisation: full-width, half-width and case meet the plain form', async (t) => {
  t.equal(normalise('ＢＡＤ'), 'bad');
  t.equal(normalise('ﾊﾞｶ'), normalise('バカ'), 'half-width katakana');
  t.equal(normalise('Straße'), 'strasse', 'ß folds to ss');
  t.equal(normalise('ＡＢＣ１２３'), 'abc123');
  t.equal(normalise('Cafe\u0301'), normalise('café'), 'a combining accent composes with its base letter');
});

t.test('test() finds words anywhere, after normalisation', async (t) => {
  const a = new Automaton(['bad', 'worse word', '坏蛋', 'he', 'she', 'hers']);
  t.equal(a.size, 6);
  t.ok(a.test('this is BAD'), 'upper case');
  t.ok(a.test('ｂａｄ'), 'full-width');
  t.ok(a.test('BaD'), 'mixed case');
  t.ok(a.test('a WORSE Word here'), 'phrase');
  t.ok(a.test('你是坏蛋吗'), 'CJK');
  t.ok(a.test('ushers'), 'overlapping words found through fail links');
  t.ok(new Automaton(['バカ']).test('お前はﾊﾞｶだ'), 'half-width katakana with a voicing mark');
  t.ok(new Automaton(['café']).test('CAFE\u0301!'), 'decomposed accent, upper case');
  t.notOk(a.test('good text, nothing to see'), 'clean text');
  t.notOk(a.test(''), 'empty');
  t.notOk(new Automaton([]).test('bad'), 'empty list matches nothing');
  t.notOk(new Automaton(['  ', '']).test('x'), 'blank words are ignored');
});

t.test('fail links: a partial match does not hide a later one', async (t) => {
  const a = new Automaton(['abcd', 'bce']);
  t.ok(a.test('xabce'), 'abc fails into bc then e');
  t.notOk(a.test('abcx'));
});

t.test('spans() maps matches back to the original string per code point', async (t) => {
  const a = new Automaton(['bad', '坏蛋', 'ss']);
  t.strictSame(a.spans('a ＢＡＤ day'), [{ start: 2, end: 5 }]);
  t.equal(maskSpans('a ＢＡＤ day', a.spans('a ＢＡＤ day'), '*'), 'a *** day', 'one mask per code point of the original');
  t.equal(maskSpans('你是坏蛋', a.spans('你是坏蛋'), '*'), '你是**');
  // ß normalises to two units; a match inside it masks the whole code point once.
  t.equal(maskSpans('xﾊﾞｶx', new Automaton(['バカ']).spans('xﾊﾞｶx'), '*'), 'x***x', 'one mask per code point, marks included');
  t.equal(maskSpans('Straße', a.spans('Straße'), '#'), 'Stra#e');
  const emoji = new Automaton(['x😀y']);
  t.equal(maskSpans('ax😀yb', emoji.spans('ax😀yb'), '*'), 'a***b', 'astral code points are one mask each');
  const overlap = new Automaton(['abc', 'cde']);
  t.strictSame(overlap.spans('abcdef'), [{ start: 0, end: 5 }], 'overlapping matches merge');
  t.equal(maskSpans('abcdef', overlap.spans('abcdef'), '*'), '*****f');
});

t.test('linear cost: 10,000 words do not slow a scan down beyond the text length', async (t) => {
  const words = Array.from({ length: 10_000 }, (_, i) => `w${i.toString(36)}x${(i * 7919).toString(36)}`);
  const a = new Automaton(words);
  t.equal(a.size, 10_000);
  t.ok(a.test(`prefix ${words[9999]} suffix`));
  t.ok(a.test(words[0]!.toUpperCase()));
  t.notOk(a.test('an ordinary chat line without any listed word in it at all'));
});
