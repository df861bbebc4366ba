import * as vega from 'vega';
import { compile } from 'vega-lite';

/** A bar chart of successful claims per second per run, with the database's own limit beside them. */
export async function renderChart(storms: { name: string; successesPerSecond: number }[], databaseLimit: number): Promise<string> {
  const values = [...storms.map((s) => ({ run: s.name, value: s.successesPerSecond })), { run: 'database limit (SQL, 100/commit)', value: databaseLimit }];
  const spec = compile({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Successful claims per second (higher is better)',
    width: 520,
    height: 220,
    data: { values },
    mark: { type: 'bar', tooltip: true },
    encoding: {
      y: { field: 'run', type: 'nominal', sort: null, title: null },
      x: { field: 'value', type: 'quantitative', title: 'claims/s' },
    },
  }).spec;
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  return view.toSVG();
}
