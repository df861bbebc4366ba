import type { Logger } from 'pino';
import { pingDatabase, type Orm } from '../db/orm.ts';

/**
 * Watches this process's connection to the database. Sockets are told when it goes away (their
 * actions answer SERVICE_UNAVAILABLE meanwhile) and when it is back, which is their cue to
 * re-watch and re-sync.
 */
export function watchDatabase(deps: { orm: Orm; logger: Logger; everyMs: number; changed: (up: boolean) => void }): () => void {
  const { orm, logger } = deps;
  let up = true;
  let checking = false;
  async function check(): Promise<void> {
    if (checking) return;
    checking = true;
    let now: boolean;
    try {
      await Promise.race([
        pingDatabase(orm),
        new Promise((_, reject) => setTimeout(() => reject(new Error('database check timed out')), 2000).unref()),
      ]);
      now = true;
    } catch {
      now = false;
    } finally {
      checking = false;
    }
    if (now === up) return;
    up = now;
    logger[up ? 'info' : 'warn']({ database: up ? 'up' : 'down' }, up ? 'database is back' : 'database is unreachable');
    deps.changed(up);
  }
  const timer = setInterval(() => void check(), deps.everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
