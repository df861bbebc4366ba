import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

interface ChartRun {
  name: string;
  successesPerSecond: number;
  latencyMs: { p50: number; p99: number };
}

/** Claims per second and latency per storm, with the database's own insert rate named in the title. */
export async function renderChart(storms: ChartRun[], databaseLimit: number): Promise<string> {
  const values = storms.map((s) => ({ run: s.name, claims: s.successesPerSecond, p50: s.latencyMs.p50, p99: s.latencyMs.p99 }));
  const y = { field: 'run', type: 'nominal', sort: null, title: null, axis: { labelLimit: 400 } } as const;
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'DropSpot claim storms (20,000 users, 5,000 slots, 2 cores)', subtitle: `database limit for reference: ${databaseLimit.toLocaleString('en')} inserts/s (SQL, 100 per commit)` },
    data: { values },
    vconcat: [
      {
        width: 420,
        height: 140,
        title: 'Successful claims per second (higher is better)',
        mark: { type: 'bar', color: '#2b6cb0' },
        encoding: { y, x: { field: 'claims', type: 'quantitative', title: 'claims/s' } },
      },
      {
        width: 420,
        height: 140,
        title: 'Claim latency, p50 and p99 (lower is better)',
        transform: [{ fold: ['p50', 'p99'], as: ['percentile', 'ms'] }],
        mark: { type: 'bar' },
        encoding: {
          y,
          yOffset: { field: 'percentile', type: 'nominal' },
          x: { field: 'ms', type: 'quantitative', title: 'ms' },
          color: { field: 'percentile', type: 'nominal', scale: { range: ['#68d391', '#dd6b20'] }, title: null },
        },
      },
    ],
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  return view.toSVG();
}
