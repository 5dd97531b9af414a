import t from 'tap';
import { markdown, type Report } from '../../bench/lib/report.js';

/** The report's fixed part, with no scenario run: enough to read its header line. */
function report(gateway: string | null): Report {
  return {
    meta: {
      date: '2026-12-01T04:00:00.000Z', cores: 2, cpu: 'Test CPU', memoryGB: 24, node: 'v20', commit: 'abc1234',
      elapsedMs: 1000, loadAvg: { start: 1, end: 2 },
      options: { quick: true, connections: 1000, stepMs: 1500, size: 100, gateway },
    },
    results: [],
    checks: [],
  } as unknown as Report;
}

t.test('the header says when the gateway ran from another build than the checkout\'s', async (t) => {
  const other = markdown(report('/tmp/other/dist/main.js'), []);
  t.match(other, /commit abc1234\. .*The gateway ran from `\/tmp\/other\/dist\/main\.js` \(--gateway\), not from this checkout's build\./);
  t.notMatch(markdown(report(null), []), /--gateway/, 'nothing said for the checkout\'s own build');
});
