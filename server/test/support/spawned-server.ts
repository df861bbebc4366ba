import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { ROOT_DIR } from '../../src/config.ts';

/** Every process a test started: one still running when its test ends (a timeout on a busy machine) is killed by `killLeftovers`. */
const children = new Set<ChildProcess>();

export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  return child;
}

/** For `afterEach`: SIGKILL to every tracked process still running. */
export function killLeftovers(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
}

/**
 * The real entry point (`server/src/main.ts`, what `npm start` runs) in a process of its own, resolved
 * once it logs "DropSpot is ready"; `output()` is everything it printed so far.
 */
export function startServer(env: Record<string, string>): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [path.join(ROOT_DIR, 'server/src/main.ts')], {
    cwd: ROOT_DIR,
    // The built web client is what the browser tests start; these check the server and its data.
    env: { ...process.env, NODE_ENV: 'development', DATABASE_URL: '', LOG_LEVEL: 'info', CLIENT: 'off', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready in 60 s:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('DropSpot is ready')) {
        clearTimeout(timer);
        resolve({ child, output: () => output });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before ready:\n${output}`));
    });
  });
}

/**
 * SIGTERM, then how the process ended: `exit 0` for a graceful stop, `signal SIGSEGV` for one that
 * died of a signal. A process that already ended answers at once; one that hangs is killed after 60 s.
 */
export function stopServer(child: ChildProcess): Promise<string> {
  const ended = () => (child.signalCode !== null ? `signal ${child.signalCode}` : `exit ${child.exitCode}`);
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(ended());
  return new Promise((resolve, reject) => {
    const hung = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the server did not stop within 60 s of SIGTERM'));
    }, 60_000);
    child.once('exit', () => {
      clearTimeout(hung);
      resolve(ended());
    });
    child.kill('SIGTERM');
  });
}

/** What a stopped server printed last, for a failed stop's message. */
export const tail = (output: string) => output.split('\n').slice(-15).join('\n');
