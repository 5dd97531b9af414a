/**
 * One chart per stepped scenario of a run: delivered messages/s (x) against p99
 * delivery latency (y), one line per target, from the per-step figures in the results.
 * Steps whose generator was saturated are left out (their latency is the generator's).
 */
import type { ScenarioResult } from './context.js';
import type { StepResult } from './steps.js';
import { chartSvg, type Series } from './svg.js';

/** The steps of a result: `steps` (fanout, room, direct) or the group steps of `cluster`. */
function stepsOf(r: ScenarioResult): StepResult[] {
  const d = r.details as { steps?: unknown; groups?: unknown } | undefined;
  const s = Array.isArray(d?.steps) ? d.steps : Array.isArray(d?.groups) ? d.groups : [];
  return s as StepResult[];
}

/** SVG text per scenario that has stepped results (scenario → SVG). */
export function scenarioCharts(results: ScenarioResult[]): Map<string, string> {
  const charts = new Map<string, string>();
  const scenarios = [...new Set(results.map((r) => r.scenario))];
  for (const sc of scenarios) {
    const rows = results.filter((r) => r.scenario === sc && r.status === 'ok' && stepsOf(r).length > 0);
    if (rows.length === 0) continue;
    let saturated = 0;
    const series: Series[] = rows.map((r) => ({
      name: r.target,
      points: stepsOf(r)
        .filter((s) => {
          if (s.genSaturated) saturated++;
          return !s.genSaturated && s.p99 !== null && s.deliveredPerSec > 0;
        })
        .map((s) => ({ x: s.deliveredPerSec, y: s.p99! })),
    }));
    const load = rows.map((r) => `${r.target} ${r.loadAtStart}`).join(', ');
    charts.set(
      sc,
      chartSvg({
        title: `${sc}: delivered messages/s vs p99 delivery latency`,
        subtitle: `one point per load step; load average at start: ${load}${saturated ? `; ${saturated} step(s) with a saturated generator left out` : ''}`,
        xLabel: 'delivered messages/s',
        yLabel: 'p99 delivery latency (ms)',
        series,
      }),
    );
  }
  return charts;
}
