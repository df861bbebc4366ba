import { createDropRoom, type DropRoom, type DropRoomDeps } from './drop-room.ts';
import type { DropWindow } from './window-store.ts';

const WINDOW_REBUILD_MS = 60 * 60_000;
const LINE_REBUILD_MS = 60_000;

/**
 * The live drops of this process, one `DropRoom` each. A room is made when a drop is watched or
 * has something scheduled (a window instant ahead, a PRIORITY line with work pending, counts or
 * positions to send) and disposed as soon as it has nothing left to do and nobody here watches
 * it, or when the drop is deleted: memory follows the live drops, not every drop ever run.
 *
 * The clocks are rebuilt from the database at start (so holds that ran out while no process was
 * up are expired and passed on at once), every minute for PRIORITY lines and every hour for
 * windows, and for one drop whenever an event says it changed.
 */
export function createRoomRegistry(
  deps: Omit<DropRoomDeps, 'settled'> & {
    /** This process's sockets watching the drop. */
    watchers: (dropId: string) => number;
    upcomingWindows: () => Promise<DropWindow[]>;
    pendingLines: () => Promise<string[]>;
  },
) {
  const rooms = new Map<string, DropRoom>();
  let closed = false;
  let windowGeneration = 0;
  const timers: NodeJS.Timeout[] = [];

  /** Disposes the room if it has nothing left to do and nobody here watches it. */
  function settle(dropId: string): void {
    const room = rooms.get(dropId);
    if (!room || !room.idle() || deps.watchers(dropId) > 0) return;
    room.dispose();
    rooms.delete(dropId);
  }

  const roomDeps: DropRoomDeps = {
    ...deps,
    // A room disposed by a deletion may still finish a read: it must not remove its successor.
    settled: (room) => {
      if (rooms.get(room.dropId) === room) settle(room.dropId);
    },
  };

  /** The drop's room, made on first use; none once closed. */
  function room(dropId: string): DropRoom | undefined {
    if (closed) return undefined;
    let found = rooms.get(dropId);
    if (!found) {
      found = createDropRoom(dropId, roomDeps);
      rooms.set(dropId, found);
    }
    return found;
  }

  async function rebuildWindows(): Promise<void> {
    const generation = ++windowGeneration;
    const started = new Map([...rooms].map(([id, r]) => [id, r.windowVersion()]));
    const drops = await deps.upcomingWindows();
    if (closed || generation !== windowGeneration) return;
    // Rooms reloaded while this read ran keep their newer timers.
    const untouched = (id: string) => (rooms.get(id)?.windowVersion() ?? 0) === (started.get(id) ?? 0);
    const found = new Set(drops.map((d) => d.id));
    for (const [id, r] of [...rooms]) {
      if (found.has(id) || !untouched(id)) continue;
      r.scheduleWindow(null);
      settle(id);
    }
    for (const drop of drops) {
      if (!untouched(drop.id)) continue;
      room(drop.id)?.scheduleWindow(drop);
      settle(drop.id);
    }
  }

  async function rebuildLines(): Promise<void> {
    for (const dropId of await deps.pendingLines()) await room(dropId)?.reloadLine();
  }

  return {
    room,
    settle,
    async start(): Promise<void> {
      await rebuildWindows();
      await rebuildLines();
      const every = (ms: number, rebuild: () => Promise<void>, what: string) => {
        const timer = setInterval(() => void rebuild().catch((error: unknown) => deps.logger.warn({ err: error }, `${what} rebuild failed`)), ms);
        timer.unref();
        timers.push(timer);
      };
      every(WINDOW_REBUILD_MS, rebuildWindows, 'window scheduler');
      every(LINE_REBUILD_MS, rebuildLines, 'line scheduler');
    },
    /** A deleted drop's room goes at once, whoever still watches. */
    delete(dropId: string): void {
      rooms.get(dropId)?.dispose();
      rooms.delete(dropId);
    },
    /** How many drops hold memory here, and which (for tests and diagnostics). */
    stats(): { rooms: number; dropIds: string[] } {
      return { rooms: rooms.size, dropIds: [...rooms.keys()] };
    },
    close(): void {
      closed = true;
      for (const timer of timers) clearInterval(timer);
      for (const r of rooms.values()) r.dispose();
      rooms.clear();
    },
  };
}

export type RoomRegistry = ReturnType<typeof createRoomRegistry>;
