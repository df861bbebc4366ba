import { authPayloadSchema, dropRefSchema, hasLine } from '@dropspot/protocol';
import type { Services } from '../services.ts';
import type { ActionRunner } from './action-binding.ts';
import type { RoomRegistry } from './room-registry.ts';
import { LOBBY, dropRoom } from './rooms.ts';
import type { Handle } from './socket-handler.ts';
import { guarded, type SocketAuth } from './socket-auth.ts';
import type { IoNamespace, IoSocket, Middleware } from './types.ts';

/** Joins `room`, then reads; a failed read leaves the room again unless the socket was already in it. */
async function joinThenRead<T>(socket: IoSocket, room: string, read: () => Promise<T>): Promise<T> {
  const already = socket.rooms.has(room);
  await socket.join(room);
  try {
    return await read();
  } catch (error) {
    if (!already) await socket.leave(room);
    throw error;
  }
}

/** `/`: visitors and signed-in users watch the lobby and drop rooms, and act on drops. */
export function bindPublicNamespace(
  ns: IoNamespace,
  deps: {
    handle: Handle;
    auth: SocketAuth;
    run: ActionRunner;
    registry: RoomRegistry;
    services: Pick<Services, 'drops' | 'actions'>;
    capConnections: Middleware;
    watcherCount: (dropId: string) => Promise<number>;
  },
): void {
  const { handle, auth, run, registry, services } = deps;
  const { actions } = services;
  // Where a handshake check per user or address would go: before any event is handled.
  ns.use(guarded(auth.handshake));
  ns.use(deps.capConnections);

  ns.on('connection', (socket) => {
    socket.on('disconnecting', () => {
      auth.forget(socket);
      for (const room of socket.rooms) {
        if (!room.startsWith('drop:')) continue;
        registry.room(room.slice(5))?.markWatchers();
        registry.room(room.slice(5))?.markPositions();
      }
    });

    socket.on('auth', handle(socket, 'auth', authPayloadSchema, async ({ token }) => auth.signIn(socket, token)));

    socket.on(
      'drops:watch',
      handle(socket, 'drops:watch', undefined, async () =>
        // In the room before the read: a change committed meanwhile is in the list or arrives after it.
        joinThenRead(socket, LOBBY, async () => {
          const page = await services.drops.page({ page: 1, pageSize: 100 }, false);
          return { drops: page.items, serverNow: page.serverNow };
        }),
      ),
    );
    socket.on(
      'drops:unwatch',
      handle(socket, 'drops:unwatch', undefined, async () => {
        await socket.leave(LOBBY);
        return null;
      }),
    );

    socket.on(
      'drop:watch',
      handle(socket, 'drop:watch', dropRefSchema, async ({ dropId }) => {
        // In the room before the snapshot is read: a window change committed in between is either in
        // the snapshot or delivered after it, never lost between the two.
        const drop = await joinThenRead(socket, dropRoom(dropId), async () => services.drops.detail(dropId, (await auth.viewer(socket))?.userId));
        const room = registry.room(dropId);
        if (room) {
          room.priority ||= hasLine(drop.allocationMode);
          room.markWatchers();
          room.markPositions();
        }
        return { drop, watchers: await deps.watcherCount(dropId), serverNow: new Date().toISOString() };
      }),
    );
    socket.on(
      'drop:unwatch',
      handle(socket, 'drop:unwatch', dropRefSchema, async ({ dropId }) => {
        if (socket.rooms.has(dropRoom(dropId))) {
          await socket.leave(dropRoom(dropId));
          registry.room(dropId)?.markWatchers();
        }
        return null;
      }),
    );

    socket.on('drop:join', handle(socket, 'drop:join', actions.join.schema, (input) => run(socket, actions.join, input)));
    socket.on('drop:leave', handle(socket, 'drop:leave', actions.leave.schema, (input) => run(socket, actions.leave, input)));
    socket.on('drop:claim', handle(socket, 'drop:claim', actions.claim.schema, (input) => run(socket, actions.claim, input)));
  });
}
