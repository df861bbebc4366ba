import type { Server as HttpServer, IncomingMessage } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import type { Logger } from 'pino';
import { createClient } from 'redis';
import { Server, type Namespace, type Socket } from 'socket.io';
import {
  adminWindowPayloadSchema,
  authPayloadSchema,
  dropRefSchema,
  type AdminClientToServerEvents,
  type AdminServerToClientEvents,
  type ClientToServerEvents,
  type DropCounts,
  type DropView,
  type EventsClientToServerEvents,
  type EventsServerToClientEvents,
  type ServerToClientEvents,
  type SessionInfo,
  type StreamEvent,
  type WindowEvent,
  type WindowEventType,
} from '@dropspot/protocol';
import type { Services } from '../app.ts';
import type { Config } from '../config.ts';
import type { Orm } from '../db/orm.ts';
import { ACCESS_COOKIE } from '../http/auth-middleware.ts';
import { DomainError } from '../http/domain-error.ts';
import { toDomainError } from '../http/problem.ts';
import type { EventNotifier } from '../modules/events/outbox.ts';
import { toPublicEvent, type EventService } from '../modules/events/event.service.ts';
import type { AuthContext } from '../types.d.ts';
import { createCountCoalescer } from './count-coalescer.ts';
import { createOutboxRelay, type PublishedEvent } from './outbox-relay.ts';
import { LOBBY, dropRoom, userRoom } from './rooms.ts';
import { createHandlerFactory, type SocketLimits } from './socket-handler.ts';
import { createWindowScheduler } from './window-scheduler.ts';

interface SocketData {
  auth?: AuthContext;
  token?: string;
  /** /events only: the last event id delivered, and events held back while replaying. */
  cursor?: number;
  replaying?: boolean;
  held?: StreamEvent[];
  apiTokenId?: string;
}

type PublicNamespace = Namespace<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
type PublicSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;

const WINDOW_TYPES: Partial<Record<string, WindowEventType>> = {
  'window.opened': 'opened',
  'window.closed': 'closed',
  'window.extended': 'extended',
  'window.paused': 'paused',
  'window.resumed': 'resumed',
  'drop.updated': 'updated',
  'drop.deleted': 'deleted',
};

const REPLAY_BATCH = 500;

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of header?.split(';') ?? []) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return decodeURIComponent(rest.join('='));
  }
  return undefined;
}

function handshakeToken(socket: Socket): string | undefined {
  const fromAuth = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
  if (typeof fromAuth === 'string' && fromAuth.length > 0) return fromAuth;
  return cookieValue(socket.handshake.headers.cookie, ACCESS_COOKIE);
}

/** A refused handshake carries the same stable code as HTTP, in `err.data.code`. */
function handshakeError(error: DomainError): Error & { data: { code: string } } {
  return Object.assign(new Error(error.message), { data: { code: error.code } });
}

export interface RealtimeDeps {
  httpServer: HttpServer;
  config: Readonly<Config>;
  orm: Orm;
  logger: Logger;
  services: Services & { events: EventService };
  limits?: Partial<SocketLimits> & { maxPayloadBytes?: number; countIntervalMs?: number; positionIntervalMs?: number };
}

/**
 * Socket.IO on the app's HTTP server: drop rooms and the lobby for everyone, `/admin` for live
 * window control, `/events` for the domain event stream. Everything pushed comes from the outbox
 * relay after commit, so nothing is announced that could still roll back.
 */
export function createRealtime(deps: RealtimeDeps) {
  const { httpServer, config, orm, logger, services } = deps;
  const log = logger.child({ component: 'realtime' });
  const allowed = new Set(config.corsOrigins);

  const io = new Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>(httpServer, {
    serveClient: false,
    maxHttpBufferSize: deps.limits?.maxPayloadBytes ?? 16 * 1024,
    cors: { origin: config.corsOrigins, credentials: true },
    // Browsers always send Origin: only our own origin and the configured ones may connect.
    allowRequest: (req: IncomingMessage, callback) => {
      const origin = req.headers.origin;
      const self = `${(req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http'}://${req.headers.host}`;
      const ok = origin === undefined || origin === self || allowed.has(origin);
      callback(ok ? null : 'origin not allowed', ok);
    },
  });

  let redis: { close: () => Promise<void> } | undefined;
  async function attachRedis(url: string): Promise<void> {
    const pub = createClient({ url });
    const sub = pub.duplicate();
    pub.on('error', (error: unknown) => log.warn({ err: error }, 'redis (pub) error'));
    sub.on('error', (error: unknown) => log.warn({ err: error }, 'redis (sub) error'));
    await Promise.all([pub.connect(), sub.connect()]);
    io.adapter(createAdapter(pub, sub));
    redis = { close: async () => void (await Promise.allSettled([pub.quit(), sub.quit()])) };
    log.info('rooms and the event stream span processes through Redis');
  }

  const handle = createHandlerFactory(
    { eventsPerSecond: deps.limits?.eventsPerSecond ?? 20, floodStrikes: deps.limits?.floodStrikes ?? 60 },
    log,
  );
  const publicNs = io.of('/') as PublicNamespace;
  const adminNs = io.of('/admin') as unknown as Namespace<AdminClientToServerEvents, AdminServerToClientEvents, Record<string, never>, SocketData>;
  const eventsNs = io.of('/events') as unknown as Namespace<EventsClientToServerEvents, EventsServerToClientEvents, Record<string, never>, SocketData>;

  // ---- live counts ------------------------------------------------------------------------
  async function watcherCount(dropId: string): Promise<number> {
    if (!redis) return publicNs.adapter.rooms.get(dropRoom(dropId))?.size ?? 0;
    return (await publicNs.in(dropRoom(dropId)).fetchSockets()).length;
  }

  async function readCounts(dropId: string): Promise<DropCounts | undefined> {
    const [row] = await orm.em.fork().execute<{ total_slots: number; claimed: number; waitlist: number }[]>(
      `select total_slots, claimed, (select count(*)::int from "waitlist" where drop_id = d.id) as waitlist from "drop" d where id = ?`,
      [dropId],
    );
    if (!row) return undefined;
    return {
      dropId,
      totalSlots: row.total_slots,
      claimed: row.claimed,
      remaining: row.total_slots - row.claimed,
      waitlistCount: row.waitlist,
      watchers: await watcherCount(dropId),
      serverNow: new Date().toISOString(),
    };
  }

  const counts = createCountCoalescer({
    intervalMs: deps.limits?.countIntervalMs ?? 100,
    read: readCounts,
    send: (value) => {
      publicNs.to(dropRoom(value.dropId)).to(LOBBY).emit('drop:counts', value);
    },
    onError: (error) => log.warn({ err: error }, 'could not read drop counts'),
  });

  /**
   * Waitlist positions of the signed-in users watching a drop on this process, pushed when they
   * change: one ranking query per drop at most once a second, not one per user per join.
   */
  const lastPositions = new Map<string, number>();
  async function pushPositions(dropId: string): Promise<void> {
    const sockets = [...(publicNs.adapter.rooms.get(dropRoom(dropId)) ?? [])]
      .map((id) => publicNs.sockets.get(id))
      .filter((socket): socket is PublicSocket => socket?.data.auth !== undefined);
    const userIds = [...new Set(sockets.map((socket) => socket.data.auth!.userId))];
    if (userIds.length === 0) return;
    const rows = await orm.em.fork().execute<{ user_id: string; position: number; total: number }[]>(
      `select user_id, position, total from (
         select user_id, row_number() over (order by priority_score desc, joined_at asc, id asc)::int as position,
                count(*) over ()::int as total
           from "waitlist" where drop_id = ?) ranked
        where user_id in (?)`,
      [dropId, userIds],
    );
    for (const row of rows) {
      const key = `${dropId}:${row.user_id}`;
      if (lastPositions.get(key) === row.position) continue;
      lastPositions.set(key, row.position);
      const position = await services.waitlist.position(row.user_id, dropId).catch(() => undefined);
      if (position) publicNs.to(userRoom(row.user_id)).emit('me:position', position);
    }
  }
  const positions = createCountCoalescer({
    intervalMs: deps.limits?.positionIntervalMs ?? 1000,
    read: async (dropId) => {
      await pushPositions(dropId);
      return undefined;
    },
    send: () => {},
    onError: (error) => log.warn({ err: error }, 'could not push waitlist positions'),
  });

  // ---- fan-out of published events ---------------------------------------------------------
  function deliverStream(event: StreamEvent): void {
    for (const socket of eventsNs.sockets.values()) {
      const data = socket.data;
      if (data.replaying) {
        data.held?.push(event);
      } else if (event.id > (data.cursor ?? 0)) {
        data.cursor = event.id;
        socket.emit('event', event);
      }
    }
  }

  function fanOut(events: PublishedEvent[]): void {
    for (const event of events) {
      const publicEvent = toPublicEvent(event);
      deliverStream(publicEvent);
      if (redis) eventsNs.serverSideEmit('stream', publicEvent);
      const dropId = event.dropId;
      if (!dropId) continue;
      const drop = event.payload.drop as DropView | undefined;
      const windowType = WINDOW_TYPES[event.type];
      if (windowType) {
        const message: WindowEvent = {
          dropId,
          type: windowType,
          ...(drop ? { drop, window: drop.window } : {}),
          at: event.at,
          serverNow: new Date().toISOString(),
        };
        publicNs.to(dropRoom(dropId)).emit('drop:window', message);
        adminNs.emit('drop:window', message);
      }
      if (windowType || event.type === 'drop.created') {
        void scheduler.reload(dropId).catch((error: unknown) => log.warn({ err: error }, 'scheduler reload failed'));
        if (redis) publicNs.serverSideEmit('window-changed', dropId);
      }
      if (event.type === 'drop.deleted') {
        publicNs.to(LOBBY).emit('drops:deleted', { dropId });
        counts.forget(dropId);
        positions.forget(dropId);
      } else if (drop) {
        publicNs.to(LOBBY).emit('drops:changed', drop);
      }
      if (event.type === 'claim.issued' || event.type === 'waitlist.joined' || event.type === 'waitlist.left') counts.markDirty(dropId);
      if (event.type === 'waitlist.joined' || event.type === 'waitlist.left') {
        positions.markDirty(dropId);
        if (redis) publicNs.serverSideEmit('positions-dirty', dropId);
      }
      if (event.userId && (event.type === 'claim.issued' || event.type === 'claim.redeemed')) {
        publicNs.to(userRoom(event.userId)).emit('me:claim', event.payload.claim as never);
      }
      if (event.userId && (event.type === 'waitlist.joined' || event.type === 'waitlist.left')) {
        const entry = event.type === 'waitlist.joined' ? (event.payload.entry as never) : null;
        publicNs.to(userRoom(event.userId)).emit('me:waitlist', { dropId, entry });
      }
    }
  }

  const relay = createOutboxRelay({ orm, logger: log, publish: fanOut });
  const notifier: EventNotifier = { committed: () => relay.poke() };
  const scheduler = createWindowScheduler({ orm, logger: log, notifier });

  // ---- who is connected -------------------------------------------------------------------
  async function authenticateSocket(socket: PublicSocket, token: string): Promise<SessionInfo> {
    const auth = await services.auth.authenticate(token, 'bearer');
    if (socket.data.auth && socket.data.auth.userId !== auth.userId) await socket.leave(userRoom(socket.data.auth.userId));
    socket.data.auth = auth;
    socket.data.token = token;
    await socket.join(userRoom(auth.userId));
    return { userId: auth.userId, role: auth.role };
  }

  /** Checks again on every action, so an expired or revoked token stops working at once. */
  async function currentUser(socket: PublicSocket): Promise<AuthContext> {
    if (!socket.data.token) throw new DomainError('UNAUTHENTICATED', 'Sign in first (send `auth` with an access token).');
    try {
      const auth = await services.auth.authenticate(socket.data.token, 'bearer');
      socket.data.auth = auth;
      return auth;
    } catch (error) {
      const known = toDomainError(error);
      if (known?.status === 401) {
        if (socket.data.auth) await socket.leave(userRoom(socket.data.auth.userId));
        socket.data.auth = undefined;
        socket.data.token = undefined;
        socket.emit('session:expired', { code: known.code, message: known.message });
      }
      throw error;
    }
  }

  publicNs.use((socket, next) => {
    const token = handshakeToken(socket);
    if (!token) return next();
    authenticateSocket(socket, token)
      .then(() => next())
      .catch((error: unknown) => {
        const known = toDomainError(error);
        if (!known || known.status >= 500) return next(error as Error);
        // Still welcome as a visitor; told why, and free to send `auth` with a fresh token.
        socket.data.auth = undefined;
        socket.data.token = undefined;
        next();
        queueMicrotask(() => socket.emit('session:expired', { code: known.code, message: known.message }));
      });
  });

  publicNs.on('connection', (socket) => {
    socket.on('disconnecting', () => {
      for (const room of socket.rooms) if (room.startsWith('drop:')) counts.markDirty(room.slice(5));
    });

    socket.on(
      'auth',
      handle(socket, authPayloadSchema, async ({ token }) => authenticateSocket(socket, token)),
    );

    socket.on(
      'drops:watch',
      handle(socket, undefined, async () => {
        await socket.join(LOBBY);
        const page = await services.drops.page({ page: 1, pageSize: 100 }, false);
        return { drops: page.items, serverNow: page.serverNow };
      }),
    );
    socket.on(
      'drops:unwatch',
      handle(socket, undefined, async () => {
        await socket.leave(LOBBY);
        return null;
      }),
    );

    socket.on(
      'drop:watch',
      handle(socket, dropRefSchema, async ({ dropId }) => {
        const drop = await services.drops.detail(dropId, socket.data.auth?.userId);
        await socket.join(dropRoom(dropId));
        counts.markDirty(dropId);
        return { drop, watchers: await watcherCount(dropId), serverNow: new Date().toISOString() };
      }),
    );
    socket.on(
      'drop:unwatch',
      handle(socket, dropRefSchema, async ({ dropId }) => {
        if (socket.rooms.has(dropRoom(dropId))) {
          await socket.leave(dropRoom(dropId));
          counts.markDirty(dropId);
        }
        return null;
      }),
    );

    socket.on(
      'drop:join',
      handle(socket, dropRefSchema, async ({ dropId }) => services.waitlist.join((await currentUser(socket)).userId, dropId)),
    );
    socket.on(
      'drop:leave',
      handle(socket, dropRefSchema, async ({ dropId }) => services.waitlist.leave((await currentUser(socket)).userId, dropId)),
    );
    socket.on(
      'drop:claim',
      handle(socket, dropRefSchema, async ({ dropId }) => services.claims.claim((await currentUser(socket)).userId, dropId)),
    );
  });

  // Another process published a waitlist change: its users here may have moved.
  publicNs.on('positions-dirty' as never, (dropId: string) => positions.markDirty(dropId));
  // Another process changed a window: rebuild this process's timers for it too.
  publicNs.on('window-changed' as never, (dropId: string) => {
    void scheduler.reload(dropId).catch(() => undefined);
  });

  // ---- /admin --------------------------------------------------------------------------------
  adminNs.use((socket, next) => {
    const token = handshakeToken(socket as unknown as Socket);
    if (!token) return next(handshakeError(new DomainError('UNAUTHENTICATED', 'The admin namespace needs an admin access token.')));
    services.auth
      .authenticate(token, 'bearer')
      .then((auth) => {
        if (auth.role !== 'ADMIN') return next(handshakeError(new DomainError('FORBIDDEN', 'This needs an admin account.')));
        socket.data.auth = auth;
        socket.data.token = token;
        next();
      })
      .catch((error: unknown) => {
        const known = toDomainError(error);
        next(known ? handshakeError(known) : (error as Error));
      });
  });

  adminNs.on('connection', (socket) => {
    socket.on(
      'window:action',
      handle(socket as unknown as Socket, adminWindowPayloadSchema, async ({ dropId, ...body }) => {
        const auth = await services.auth.authenticate(socket.data.token ?? '', 'bearer');
        if (auth.role !== 'ADMIN') throw new DomainError('FORBIDDEN', 'This needs an admin account.');
        if (body.action === 'extend' && body.seconds === undefined) {
          throw new DomainError('VALIDATION_FAILED', 'extend needs seconds', { issues: [{ path: 'seconds', message: 'extend needs seconds', code: 'custom' }] });
        }
        return services.drops.windowAction(dropId, body);
      }),
    );
  });

  // ---- /events -------------------------------------------------------------------------------
  eventsNs.use((socket, next) => {
    const auth = socket.handshake.auth as { token?: unknown; lastEventId?: unknown } | undefined;
    const token = typeof auth?.token === 'string' ? auth.token : handshakeToken(socket as unknown as Socket);
    const last = Number(auth?.lastEventId ?? 0);
    socket.data.cursor = Number.isSafeInteger(last) && last >= 0 ? last : 0;
    if (!token) return next(handshakeError(new DomainError('UNAUTHENTICATED', 'The event stream needs an admin access token or an API token.')));
    const check = async () => {
      const apiTokenId = await services.events.verifyToken(token);
      if (apiTokenId) {
        socket.data.apiTokenId = apiTokenId;
        return;
      }
      const user = await services.auth.authenticate(token, 'bearer');
      if (user.role !== 'ADMIN') throw new DomainError('FORBIDDEN', 'The event stream needs an admin or an API token.');
      socket.data.auth = user;
    };
    check()
      .then(() => next())
      .catch((error: unknown) => {
        const known = toDomainError(error);
        next(known ? handshakeError(known) : (error as Error));
      });
  });

  eventsNs.on('connection', (socket) => {
    if (socket.data.apiTokenId) void socket.join(`api-token:${socket.data.apiTokenId}`);
    // Replay what was missed, holding live events back meanwhile; then release those not yet sent.
    socket.data.replaying = true;
    socket.data.held = [];
    const replay = async () => {
      for (;;) {
        const batch = await services.events.after(socket.data.cursor ?? 0, REPLAY_BATCH);
        for (const event of batch) socket.emit('event', event);
        if (batch.length > 0) socket.data.cursor = batch[batch.length - 1]!.id;
        if (batch.length < REPLAY_BATCH) break;
      }
      socket.data.replaying = false;
      for (const event of socket.data.held ?? []) {
        if (event.id > (socket.data.cursor ?? 0)) {
          socket.data.cursor = event.id;
          socket.emit('event', event);
        }
      }
      socket.data.held = undefined;
    };
    replay().catch((error: unknown) => {
      log.warn({ err: error }, 'event replay failed');
      socket.disconnect(true);
    });
  });
  eventsNs.on('stream' as never, (event: StreamEvent) => deliverStream(event));

  return {
    io,
    /** Services call this after a commit that wrote outbox events. */
    notifier,
    async start(): Promise<void> {
      if (config.redisUrl) await attachRedis(config.redisUrl);
      await scheduler.start();
      relay.start();
    },
    /** Closes the sockets of a revoked API token, in every process. */
    disconnectApiToken(id: string): void {
      eventsNs.in(`api-token:${id}`).disconnectSockets(true);
    },
    async close(reason = 'server shutting down'): Promise<void> {
      publicNs.emit('server:shutdown', { reason });
      scheduler.stop();
      counts.close();
      positions.close();
      await relay.stop();
      // io.close() also closes the HTTP server; open keep-alive connections would hold it up.
      await new Promise<void>((resolve) => {
        void io.close(() => resolve());
        httpServer.closeAllConnections();
      });
      await redis?.close();
    },
  };
}

export type Realtime = ReturnType<typeof createRealtime>;
