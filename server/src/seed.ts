import type { Orm } from './db/orm.ts';
import type { Services } from './services.ts';
import { SYSTEM_ACTOR } from './modules/audit/audit.ts';
import { DropSchema } from './modules/drops/drop.entity.ts';

export const DEMO_ADMIN = { email: 'admin@dropspot.local', password: 'dropspot-admin' } as const;
export const DEMO_USER = { email: 'user@dropspot.local', password: 'dropspot-user' } as const;

const MINUTE = 60_000;

/**
 * Demo data for the embedded development database: only into an empty database, so a restart
 * never duplicates it. Returns whether it seeded.
 */
export async function seedDemo(orm: Orm, services: Services): Promise<boolean> {
  if ((await orm.em.fork().count(DropSchema, {})) > 0) return false;
  const now = Date.now();
  const at = (minutes: number) => new Date(now + minutes * MINUTE);
  await services.drops.create({
    title: 'Midnight Runner sneakers: live now',
    description: 'A limited run of 50 pairs. The window is open: join the waitlist and claim your code.',
    imageUrl: null,
    totalSlots: 50,
    claimWindowStart: at(-5),
    claimWindowEnd: at(60),
    isActive: true,
    allocationMode: 'FCFS',
    openingShuffleSeconds: null,
    holdSeconds: 600,
    requirePow: false,
  }, SYSTEM_ACTOR);
  await services.drops.create({
    title: 'Studio vinyl pressing: opens in 3 minutes',
    description: '200 numbered copies, by priority: join before the window opens; the top 200 get a 10-minute reservation.',
    imageUrl: null,
    totalSlots: 200,
    claimWindowStart: at(3),
    claimWindowEnd: at(33),
    isActive: true,
    allocationMode: 'PRIORITY',
    openingShuffleSeconds: null,
    holdSeconds: 600,
    requirePow: false,
  }, SYSTEM_ACTOR);
  await services.drops.create({
    title: 'Festival early-bird passes: ended',
    description: 'This window closed yesterday.',
    imageUrl: null,
    totalSlots: 25,
    claimWindowStart: at(-26 * 60),
    claimWindowEnd: at(-24 * 60),
    isActive: true,
    allocationMode: 'FCFS',
    openingShuffleSeconds: null,
    holdSeconds: 600,
    requirePow: false,
  }, SYSTEM_ACTOR);
  return true;
}
