/**
 * The ratios of one `npm run bench`, first: on a shared machine whose speed drifts, only figures
 * measured side by side in the same run compare like with like (see BENCHMARKS.md). Each row
 * names what it divides, the value, and the target it is held to, if any.
 */
export interface SummaryRow {
  measure: string;
  value: string;
  target: string;
  met: 'yes' | 'no' | '';
}

const pct = (n: number) => `${Math.round(n)} %`;
const times = (n: number) => `${n.toFixed(2)}×`;

export function row(measure: string, value: string, target = '', met?: boolean): SummaryRow {
  return { measure, value, target, met: met === undefined ? '' : met ? 'yes' : 'no' };
}

interface Storm {
  engine: string;
  transport: string;
  users: number;
  slots: number;
  concurrency: number;
  attemptsPerSecond: number;
  successesPerSecond: number;
}

/** Engine over HTTP ÷ the stack's ceiling, and Socket.IO ÷ HTTP, for every pair the run has. */
export function stormRows(storms: Storm[]): SummaryRow[] {
  const rows: SummaryRow[] = [];
  /** The mean of every storm of this kind and size in the run (the transports alternate: HTTP, Socket.IO, Socket.IO, HTTP). */
  const find = (engine: string, transport: string, s: Storm): Storm | undefined => {
    const all = storms.filter((c) => c.engine === engine && c.transport === transport && c.users === s.users && c.slots === s.slots && c.concurrency === s.concurrency);
    if (all.length === 0) return undefined;
    const mean = (pick: (c: Storm) => number) => Math.round(all.reduce((sum, c) => sum + pick(c), 0) / all.length);
    return { ...all[0]!, attemptsPerSecond: mean((c) => c.attemptsPerSecond), successesPerSecond: mean((c) => c.successesPerSecond) };
  };
  const once = <T extends Storm>(list: T[]) => list.filter((s, i) => list.findIndex((o) => o.users === s.users && o.slots === s.slots && o.concurrency === s.concurrency) === i);
  const size = (s: Storm) => `${s.users.toLocaleString('en')} people, ${s.slots.toLocaleString('en')} slots, ${s.concurrency} clients`;
  for (const first of once(storms.filter((x) => x.engine === 'batched' && x.transport === 'http'))) {
    const ceiling = find('ceiling', 'http', first);
    const s = find('batched', 'http', first)!;
    if (!ceiling) continue;
    const share = (s.attemptsPerSecond / ceiling.attemptsPerSecond) * 100;
    rows.push(row(`claim attempts/s ÷ the stack's ceiling (${size(s)})`, `${pct(share)} (${s.attemptsPerSecond} of ${ceiling.attemptsPerSecond})`, s.concurrency === 500 ? '≥ 90 %' : '', s.concurrency === 500 ? share >= 90 : undefined));
  }
  for (const first of once(storms.filter((x) => x.engine === 'batched' && x.transport === 'socket.io'))) {
    const http = find('batched', 'http', first);
    const s = find('batched', 'socket.io', first)!;
    if (!http) continue;
    const ratio = s.successesPerSecond / http.successesPerSecond;
    const runs = storms.filter((c) => c.engine === 'batched' && c.users === s.users && c.slots === s.slots && c.concurrency === s.concurrency).length;
    rows.push(row(`claims/s over Socket.IO ÷ over HTTP (${size(s)} in flight${runs > 2 ? `, mean of ${runs / 2} runs each` : ''})`, `${times(ratio)} (${s.successesPerSecond} vs ${http.successesPerSecond})`, '≥ 1.5×', ratio >= 1.5));
  }
  return rows;
}

/** WORKERS=2 ÷ WORKERS=1 of the real main.ts, per transport (means of the alternated runs). */
export function workerRows(storms: (Storm & { workers?: number })[]): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (const transport of ['http', 'socket.io']) {
    const mean = (n: number) => {
      const runs = storms.filter((s) => s.transport === transport && s.workers === n);
      return runs.length === 0 ? undefined : runs.reduce((sum, s) => sum + s.successesPerSecond, 0) / runs.length;
    };
    const one = mean(1);
    const two = mean(2);
    if (one === undefined || two === undefined) continue;
    rows.push(row(`claims/s with WORKERS=2 ÷ WORKERS=1 (npm start's main.ts, ${transport === 'http' ? 'HTTP' : 'Socket.IO'}, 5,000 people, 2,000 slots, 500 in flight)`, `${times(two / one)} (${Math.round(two)} vs ${Math.round(one)})`));
  }
  return rows;
}

export { pct, times };
