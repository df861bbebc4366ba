/**
 * Reads a Dockerfile into its stages and instructions, so that a test can carry out what an image
 * build would (server/test/production-image.test.ts) where no Docker engine exists. It reads the
 * instructions this project's Dockerfile uses and refuses any other, so the file cannot grow a
 * step the test does not reproduce.
 */
export interface Instruction {
  op: 'ARG' | 'FROM' | 'ENV' | 'WORKDIR' | 'COPY' | 'RUN' | 'USER' | 'EXPOSE' | 'HEALTHCHECK' | 'CMD';
  /** `--name=value` options (COPY --from, HEALTHCHECK --interval). */
  flags: Record<string, string>;
  /** The words after the flags, `${ARG}` references replaced. */
  args: string[];
  /** The exec form (`["node", "x"]`) of CMD and HEALTHCHECK … CMD. */
  exec?: string[];
  line: string;
}

export interface Stage {
  name: string;
  image: string;
  instructions: Instruction[];
}

const KNOWN = new Set(['ARG', 'FROM', 'ENV', 'WORKDIR', 'COPY', 'RUN', 'USER', 'EXPOSE', 'HEALTHCHECK', 'CMD']);

export function parseDockerfile(text: string): Stage[] {
  // Continuation lines joined, comments and blank lines dropped.
  const lines = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  const expand = (word: string) => word.replace(/\$\{(\w+)\}|\$(\w+)/g, (_all, a: string | undefined, b: string | undefined) => args[(a ?? b)!] ?? '');
  for (const line of lines) {
    const [word, ...rest] = line.split(/\s+/);
    const op = word!.toUpperCase();
    if (!KNOWN.has(op)) throw new Error(`Dockerfile: "${op}" is not an instruction the image test carries out: ${line}`);
    const flags: Record<string, string> = {};
    let words = rest;
    while (words[0]?.startsWith('--')) {
      const [name, value = ''] = words[0].slice(2).split(/=(.*)/s);
      flags[name!] = value;
      words = words.slice(1);
    }
    const instruction: Instruction = { op: op as Instruction['op'], flags, args: words.map(expand), line };
    const afterOp = line.slice(word!.length).trim();
    if (op === 'CMD') instruction.exec = JSON.parse(afterOp) as string[];
    if (op === 'HEALTHCHECK') {
      const cmd = afterOp.indexOf('CMD ');
      if (cmd < 0) throw new Error(`Dockerfile: HEALTHCHECK without CMD: ${line}`);
      instruction.exec = JSON.parse(afterOp.slice(cmd + 4)) as string[];
    }
    if (op === 'RUN') instruction.args = [expand(afterOp)];
    if (op === 'ARG') {
      const [name, value = ''] = words[0]!.split(/=(.*)/s);
      args[name!] = value;
    }
    if (op === 'FROM') {
      stages.push({ image: instruction.args[0]!, name: instruction.args[2] ?? String(stages.length), instructions: [] });
      continue;
    }
    if (op === 'ARG' && stages.length === 0) continue;
    const stage = stages.at(-1);
    if (!stage) throw new Error(`Dockerfile: ${op} before FROM`);
    stage.instructions.push(instruction);
  }
  return stages;
}
