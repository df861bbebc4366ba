import type { DropCounts, ReservationView } from '@dropspot/protocol';
import { countInt, db } from '../db/kysely.ts';
import type { Orm } from '../db/orm.ts';
import type { ReservationService } from '../modules/reservations/reservation.service.ts';
import type { DropRoom } from './drop-room.ts';
import { changedPositions } from './positions.ts';
import { LOBBY, dropRoom, userRoom } from './rooms.ts';
import type { IoNamespace } from './types.ts';

/** The longest a drop's counts wait for the other processes' watcher numbers. */
const WATCHER_COUNT_TIMEOUT_MS = 1000;

const lineKey = (view: ReservationView) => `${view.status}|${view.rank}|${view.expiresAt}|${view.waitingAhead}|${view.openReservations}|${view.remaining}`;

/**
 * The numbers a drop's watchers see move: counts (slots, waitlist, watchers on every process)
 * and each signed-in watcher's place in line.
 */
export function createLiveNumbers(deps: {
  orm: Orm;
  publicNs: IoNamespace;
  reservations: Pick<ReservationService, 'viewsFor'>;
  /** Where room broadcasts go (see `rooms()` in realtime.ts). */
  rooms: () => Pick<IoNamespace, 'to'>;
  /** Whether other processes can be asked (Redis up, not closing). */
  spansProcesses: () => boolean;
}) {
  const { orm, publicNs } = deps;
  const localWatchers = (dropId: string) => publicNs.adapter.rooms.get(dropRoom(dropId))?.size ?? 0;
  publicNs.on('room-size', (dropId, reply) => reply(localWatchers(dropId)));

  /** Watchers on every process: each answers with its own room size (no socket lists cross Redis). */
  async function watcherCount(dropId: string): Promise<number> {
    // Once closing, Redis may already be gone: the adapter would publish on a closed client.
    if (!deps.spansProcesses()) return localWatchers(dropId);
    try {
      // The adapter first asks Redis how many processes listen, and only then starts its own
      // timeout: when Redis drops at that moment the question waits in the client's offline
      // queue until Redis is back, and this drop's counts would stall with it. Bounded here.
      let timer: NodeJS.Timeout | undefined;
      const others = await Promise.race([
        publicNs.serverSideEmitWithAck('room-size', dropId),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('watcher count timed out')), WATCHER_COUNT_TIMEOUT_MS);
        }),
      ]).finally(() => clearTimeout(timer));
      return localWatchers(dropId) + others.reduce((sum, n) => sum + (Number(n) || 0), 0);
    } catch {
      return localWatchers(dropId);
    }
  }

  async function readCounts(dropId: string): Promise<DropCounts | undefined> {
    const row = await db(orm.em.fork())
      .selectFrom('drop as d')
      .select((eb) => ['d.totalSlots', 'd.claimed', eb.selectFrom('waitlist').select(countInt.as('n')).whereRef('waitlist.drop', '=', 'd.id').as('waitlist')])
      .where('d.id', '=', dropId)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      dropId,
      totalSlots: row.totalSlots,
      claimed: row.claimed,
      remaining: row.totalSlots - row.claimed,
      waitlistCount: row.waitlist ?? 0,
      watchers: await watcherCount(dropId),
      serverNow: new Date().toISOString(),
    };
  }

  return {
    localWatchers,
    watcherCount,
    /** Returns how long writing the message to the room took (ms): the event loop it held. */
    async sendCounts(dropId: string): Promise<number> {
      const counts = await readCounts(dropId);
      if (!counts) return 0;
      const started = performance.now();
      deps.rooms().to(dropRoom(dropId)).to(LOBBY).emit('drop:counts', counts);
      return performance.now() - started;
    },
    /** Positions of this process's signed-in watchers of a drop, pushed to those whose rank moved. */
    async pushPositions(room: DropRoom): Promise<void> {
      const userIds = new Set<string>();
      for (const id of publicNs.adapter.rooms.get(dropRoom(room.dropId)) ?? []) {
        const userId = publicNs.sockets.get(id)?.data.auth?.userId;
        if (userId) userIds.add(userId);
      }
      // A frozen PRIORITY line: each watcher's place in it ("#214; 37 reservations ahead still open").
      const places = await deps.reservations.viewsFor(orm.em.fork(), room.dropId, [...userIds]);
      if (places.size > 0) {
        const before = new Map(room.lastLine);
        room.lastLine.clear();
        for (const [userId, view] of places) {
          const key = lineKey(view);
          room.lastLine.set(userId, key);
          if (before.get(userId) !== key) publicNs.to(userRoom(userId)).emit('me:reservation', view);
        }
        return;
      }
      for (const { userId, position } of await changedPositions(orm, room.dropId, [...userIds], room.lastPositions)) {
        deps.rooms().to(userRoom(userId)).emit('me:position', position);
      }
    },
  };
}
