/**
 * `node bench/profile-summary.ts <file.cpuprofile>`: where the server spent its CPU, by self time,
 * grouped by function and by package, to find the next bottleneck.
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
const profile = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const self = new Map<number, number>();
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const total = [...self.values()].reduce((a, b) => a + b, 0);
const byFunction = new Map<string, number>();
const byPackage = new Map<string, number>();
for (const node of profile.nodes) {
  const time = self.get(node.id) ?? 0;
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url.replace(/^file:\/\/.*?node_modules\//, '').replace(/^file:\/\/\/work\/[^/]+\//, '');
  const key = `${functionName || '(anonymous)'} ${where}:${lineNumber}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + time);
  const pkg = url.includes('node_modules/') ? url.split('node_modules/')[1]!.split('/').slice(0, url.split('node_modules/')[1]!.startsWith('@') ? 2 : 1).join('/') : url.startsWith('node:') || url === '' ? `(${functionName || 'native'})` : 'dropspot';
  byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + time);
}
const top = (map: Map<string, number>, n: number) =>
  [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => `${((v / total) * 100).toFixed(1).padStart(5)}%  ${k}`);
console.log(`total sampled: ${(total / 1e6).toFixed(1)} s\n\nby package:\n${top(byPackage, 15).join('\n')}\n\nby function:\n${top(byFunction, 30).join('\n')}`);
