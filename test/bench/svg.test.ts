/** The bench's hand-written SVG charts: well-formed XML, points inside the plot, one polyline per series. */
import t from 'tap';
import { axisFor, chartSvg, escapeXml, PLOT, tickLabel, type Chart } from '../../bench/lib/svg.js';
import { scenarioCharts } from '../../bench/lib/charts.js';
import type { ScenarioResult } from '../../bench/lib/context.js';

interface El {
  name: string;
  attrs: Record<string, string>;
  text: string;
}

/**
 * A small XML check: every tag closes in order, attributes are quoted, text holds no raw
 * `<` or stray `&`. Returns the elements in document order; throws on the first fault.
 */
function parseXml(xml: string): El[] {
  const els: El[] = [];
  const stack: El[] = [];
  const re = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/gy;
  let m: RegExpExecArray | null;
  let at = 0;
  while (at < xml.length && (m = re.exec(xml)) !== null) {
    at = re.lastIndex;
    if (m[5] !== undefined) {
      if (/&(?!(amp|lt|gt|quot|apos);)/.test(m[5])) throw new Error(`bad entity in text ${JSON.stringify(m[5])}`);
      // Text belongs to the innermost open element; whitespace between elements is not text.
      if (stack.length && m[5].trim()) stack[stack.length - 1]!.text += m[5];
      continue;
    }
    const [, close, name, attrText, self] = m;
    if (close) {
      const open = stack.pop();
      if (open?.name !== name) throw new Error(`</${name}> closes <${open?.name}>`);
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of attrText!.matchAll(/([\w:-]+)="([^"]*)"/g)) {
      if (a[1]! in attrs) throw new Error(`duplicate attribute ${a[1]} on <${name}>`);
      attrs[a[1]!] = a[2]!;
    }
    const el = { name: name!, attrs, text: '' };
    els.push(el);
    if (!self) stack.push(el);
  }
  if (at !== xml.length) throw new Error(`not XML at offset ${at}: ${JSON.stringify(xml.slice(at, at + 40))}`);
  if (stack.length) throw new Error(`unclosed <${stack.map((e) => e.name).join('>, <')}>`);
  return els;
}

const fixture: Chart = {
  title: 'fanout: delivered <msgs> & p99',
  xLabel: 'delivered messages/s',
  yLabel: 'p99 (ms)',
  series: [
    { name: 'gateway', points: [{ x: 50_000, y: 2.1 }, { x: 100_000, y: 3.5 }, { x: 400_000, y: 12 }, { x: 1_600_000, y: 180 }] },
    { name: 'raw-uws', points: [{ x: 50_000, y: 1.9 }, { x: 100_000, y: 3 }, { x: 400_000, y: 9 }, { x: 1_600_000, y: 150 }] },
    { name: 'ws-hub', points: [{ x: 50_000, y: 4 }, { x: 100_000, y: 40 }] },
  ],
};

t.test('the chart is well-formed XML with one polyline per series, every point inside the plot', async (t) => {
  const svg = chartSvg(fixture);
  const els = parseXml(svg);
  t.equal(els[0]!.name, 'svg');
  t.equal(els[0]!.attrs['xmlns'], 'http://www.w3.org/2000/svg');
  const lines = els.filter((e) => e.name === 'polyline');
  t.equal(lines.length, fixture.series.length, 'one polyline per series');
  lines.forEach((l, i) => {
    const pts = l.attrs['points']!.split(' ').map((p) => p.split(',').map(Number));
    t.equal(pts.length, fixture.series[i]!.points.length, `${fixture.series[i]!.name}: every point drawn`);
    for (const [x, y] of pts) {
      t.ok(x! >= PLOT.left && x! <= PLOT.left + PLOT.width && y! >= PLOT.top && y! <= PLOT.top + PLOT.height, `(${x}, ${y}) inside the plot`);
    }
    const xs = pts.map((p) => p[0]!);
    t.same(xs, [...xs].sort((a, b) => a - b), 'drawn left to right');
  });
  const texts = els.filter((e) => e.name === 'text').map((e) => e.text);
  for (const s of fixture.series) t.ok(texts.includes(s.name), `legend names ${s.name}`);
  t.ok(texts.some((x) => x.includes('&lt;msgs&gt; &amp; p99')), 'title escaped');
  t.ok(texts.some((x) => x.startsWith('delivered messages/s') && x.includes('log scale')), 'x axis label (log: 32× range)');
  t.ok(texts.includes('100k') && texts.includes('1M'), 'x ticks labelled');
});

t.test('axes: log for a wide positive range, linear from 0 otherwise', async (t) => {
  const wide = axisFor([0.3, 180]);
  t.ok(wide.log);
  t.equal(wide.min, 0.1);
  t.equal(wide.max, 1000);
  const narrow = axisFor([2, 9]);
  t.notOk(narrow.log);
  t.equal(narrow.min, 0);
  t.equal(narrow.max, 10);
  t.same(narrow.ticks, [0, 2, 4, 6, 8, 10]);
  t.notOk(axisFor([0, 50]).log, 'a zero forbids a log axis');
  t.same(axisFor([]).ticks.length > 1, true, 'no data: still an axis');
  t.equal(tickLabel(1_500_000), '1.5M');
  t.equal(tickLabel(20_000), '20k');
  t.equal(tickLabel(0.25), '0.25');
  t.equal(escapeXml('a<b>&"c"'), 'a&lt;b&gt;&amp;&quot;c&quot;');
});

t.test('a series without points keeps its polyline and says so in the legend; bad points are left out', async (t) => {
  const els = parseXml(chartSvg({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'a', points: [{ x: 1, y: 1 }, { x: 2, y: Number.NaN }] }, { name: 'b', points: [] }] }));
  const lines = els.filter((e) => e.name === 'polyline');
  t.equal(lines.length, 2);
  t.equal(lines[0]!.attrs['points']!.split(' ').length, 1, 'the NaN point is left out');
  t.equal(lines[1]!.attrs['points'], '');
  t.ok(els.some((e) => e.name === 'text' && e.text === 'b (no data)'));
});

t.test('scenarioCharts: one chart per stepped scenario, saturated steps left out', async (t) => {
  const step = (rate: number, p99: number, genSaturated = false) => ({ rate, deliveredPerSec: rate * 10, p99, genSaturated });
  const res = (scenario: string, target: string, steps: unknown[]): ScenarioResult =>
    ({ scenario, target, status: 'ok', figures: {}, details: { steps }, notes: [], elapsedMs: 1, loadAtStart: 1.5 }) as unknown as ScenarioResult;
  const charts = scenarioCharts([
    res('direct', 'gateway', [step(500, 2), step(2000, 5), step(10000, 90, true)]),
    res('direct', 'raw-uws', [step(500, 0.4), step(2000, 1.1)]),
    { scenario: 'connect', target: 'gateway', status: 'ok', figures: {}, notes: [], elapsedMs: 1, loadAtStart: 1 } as ScenarioResult,
  ]);
  t.same([...charts.keys()], ['direct'], 'only stepped scenarios get a chart');
  const els = parseXml(charts.get('direct')!);
  const lines = els.filter((e) => e.name === 'polyline');
  t.equal(lines.length, 2);
  t.equal(lines[0]!.attrs['points']!.split(' ').length, 2, 'the saturated step is not drawn');
  t.ok(els.some((e) => e.name === 'text' && e.text.includes('1 step(s) with a saturated generator left out')));
});
