import type { Server as HttpServer, IncomingMessage } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import jwt from 'jsonwebtoken';
import type { Logger } from 'pino';
import { createClient } from 'redis';
import { Server, type Namespace, type Socket } from 'socket.io';
import {
  adminExtendHoldsPayloadSchema,
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
  type ReservationEvent,
  type ReservationView,
  type ServerToClientEvents,
  type SessionInfo,
  type StreamEvent,
  type WindowEvent,
  type WindowEventType,
} from '@dropspot/protocol';
import type { Services } from '../services.ts';
import type { Config } from '../config.ts';
import type { Orm } from '../db/orm.ts';
import type { LimitedAction } from '../domain/action-limits.ts';
import { ACCESS_COOKIE } from '../http/auth-middleware.ts';
import { DomainError, toDomainError } from '../domain/errors.ts';
import type { EndedSession } from '../modules/auth/auth.service.ts';
import type { EventNotifier } from '../modules/events/outbox.ts';
import { toPublicEvent } from '../modules/events/event.service.ts';
import type { AuthContext } from '../types.d.ts';
import { createCountCoalescer } from './count-coalescer.ts';
import type { PublishedEvent } from '../modules/events/stream-event.ts';
import { createOutboxRelay } from './outbox-relay.ts';
import { createPositionTracker } from './positions.ts';
import { LOBBY, dropRoom, sessionRoom, userRoom } from './rooms.ts';
import { createHandlerFactory, type SocketLimits } from './socket-handler.ts';
import { createStreamDelivery } from './stream-delivery.ts';
import { createLineScheduler } from './line-scheduler.ts';
import { createWindowScheduler } from './window-scheduler.ts';

interface SocketData {
  auth?: AuthContext;
  token?: string;
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

/** The longest a drop's counts wait for the other processes' watcher numbers. */
const WATCHER_COUNT_TIMEOUT_MS = 1000;
/** Events about a PRIORITY drop's line: admins hear them all, the user named in one hears `me:reservation`. */
const LINE_TYPES = new Set<string>(['ranking.frozen', 'reservation.granted', 'reservation.expired', 'reservation.released', 'reservation.passed', 'reservation.extended']);
const PERSONAL_LINE_TYPES = new Set<string>(['reservation.granted', 'reservation.expired', 'reservation.released', 'reservation.extended']);

/** How often `/admin` and `/events` sockets are checked again (role, session, API token). */
const RECHECK_MS = 5000;

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of header?.split(';') ?? []) {
    const [key, ...rest] = part.trim().split('=');
    if (key !== name) continue;
    try {
      return decodeURIComponent(rest.join('='));
    } catch {
      return undefined; // a malformed %-escape: no usable cookie
    }
  }
  return undefined;
}

function handshakeToken(socket: Socket): string | undefined {
  const fromAuth = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
  if (typeof fromAuth === 'string' && fromAuth.length > 0 && fromAuth.length <= 4096) return fromAuth;
  return cookieValue(socket.handshake.headers.cookie, ACCESS_COOKIE);
}

/** A refused handshake carries the same stable code as HTTP, in `err.data.code`. */
function handshakeError(error: unknown): Error {
  const known = toDomainError(error) ?? new DomainError('INTERNAL', 'Something went wrong on our side.');
  return Object.assign(new Error(known.message), { data: { code: known.code } });
}

/** Namespace middleware that can never leave a rejected promise behind (Socket.IO would not catch it). */
function guarded(check: (socket: Socket) => Promise<void>) {
  return (socket: Socket, next: (error?: Error) => void) => {
    check(socket).then(
      () => next(),
      (error: unknown) => next(handshakeError(error)),
    );
  };
}

export interface RealtimeDeps {
  httpServer: HttpServer;
  config: Readonly<Config>;
  orm: Orm;
  logger: Logger;
  services: Services;
  /** The client's address as HTTP sees it (`req.ip`, honouring TRUST_PROXY); defaults to the peer address. */
  clientIp?: (req: IncomingMessage) => string | undefined;
  limits?: Partial<SocketLimits> & {
    maxPayloadBytes?: number;
    countIntervalMs?: number;
    positionIntervalMs?: number;
    drainMs?: number;
    /** How often the database is checked, so sockets hear at once when it goes away or comes back. */
    databaseCheckMs?: number;
  };
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
  /** Behind a proxy every socket's peer is the proxy: per-IP limits and the audit log need the client. */
  const addressOf = (socket: Socket) => deps.clientIp?.(socket.request) ?? socket.handshake.address;

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

  let redis: { close: () => Promise<void>; up: () => boolean } | undefined;
  /**
   * Brings this process's watchers up to date by itself: each of its drop rooms gets fresh
   * counts from the database and each stream subscriber catches up from it. Run every second
   * while Redis is down (events published by another process cannot reach these sockets then)
   * and once when it is back (messages published while this process was still re-subscribing
   * are lost to it: Redis pub/sub keeps nothing for a subscriber that is away).
   */
  function resyncLocal(): void {
    for (const room of publicNs.adapter.rooms.keys()) if (room.startsWith('drop:')) counts.markDirty(room.slice(5));
    stream.catchUpAll();
  }
  async function attachRedis(url: string): Promise<void> {
    // Always retry, capped at 2 s: node-redis's default gives up for good after a connect
    // timeout (a Redis host that stops answering rather than refusing), and this process would
    // then never span processes again.
    const reconnectStrategy = (retries: number) => Math.min(2 ** retries * 50, 2000) + Math.floor(Math.random() * 200);
    const pub = createClient({ url, socket: { reconnectStrategy } });
    const sub = pub.duplicate();
    let wasUp = true;
    let outage: NodeJS.Timeout | undefined;
    // Without Redis each process keeps serving its own sockets (room emits stay local, see
    // `rooms()`); node-redis reconnects and re-subscribes before it reports `ready`, so once
    // both clients are ready, rooms span processes again.
    const watch = (client: typeof pub, role: string) => {
      client.on('error', (error: unknown) => log.warn({ err: error, role }, 'redis error'));
      client.on('reconnecting', () => {
        if (!wasUp) return;
        wasUp = false;
        log.warn('redis lost: serving this process\'s sockets alone until it is back');
        outage = setInterval(resyncLocal, 1000);
        outage.unref();
      });
      client.on('ready', () => {
        if (!wasUp && pub.isReady && sub.isReady) {
          wasUp = true;
          clearInterval(outage);
          log.info('redis is back: rooms and the event stream span processes again');
          resyncLocal();
        }
      });
    };
    watch(pub, 'pub');
    watch(sub, 'sub');
    // The adapter publishes and forgets: a PUBLISH in flight when the connection drops rejects
    // with ECONNRESET and nobody would catch it. A lost broadcast is what an outage means here
    // (`resyncLocal` repairs the numbers), so it is counted in the log, not left unhandled.
    const publish = pub.publish.bind(pub);
    Object.assign(pub, {
      publish: (channel: string, message: string) =>
        publish(channel, message).catch((error: unknown) => {
          log.debug({ err: error }, 'a Redis publish was lost');
          return 0;
        }),
    });
    await Promise.all([pub.connect(), sub.connect()]);
    // A short request timeout: a process that went away (or a count miscounted after a Redis
    // restart) delays a watcher count by a second at most, not five.
    io.adapter(createAdapter(pub, sub, { key: config.redisPrefix, requestsTimeout: 1000 }));
    redis = {
      // A graceful quit waits for a connection that may never come back: give it a second.
      close: async () => {
        clearInterval(outage);
        const quit = Promise.allSettled([pub.quit(), sub.quit()]);
        await Promise.race([quit, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
        for (const client of [pub, sub]) if (client.isOpen) client.destroy();
      },
      up: () => pub.isReady && sub.isReady,
    };
    log.info('rooms and the event stream span processes through Redis');
  }

  const handle = createHandlerFactory(
    { eventsPerSecond: deps.limits?.eventsPerSecond ?? 20, floodStrikes: deps.limits?.floodStrikes ?? 60 },
    log,
  );
  const publicNs = io.of('/') as PublicNamespace;
  const adminNs = io.of('/admin') as unknown as Namespace<AdminClientToServerEvents, AdminServerToClientEvents, Record<string, never>, SocketData>;
  const eventsNs = io.of('/events') as unknown as Namespace<EventsClientToServerEvents, EventsServerToClientEvents, Record<string, never>, SocketData>;

  /**
   * Where room broadcasts go: through the adapter to every process while Redis is up; while it
   * is down, to this process's sockets only, instead of piling up in the client's offline queue
   * and arriving stale when Redis returns.
   */
  const rooms = () => (redis && !redis.up() ? publicNs.local : publicNs);
  /** The same for the `/admin` namespace. */
  const admins = () => (redis && !redis.up() ? adminNs.local : adminNs);

  // ---- live counts and positions ----------------------------------------------------------
  const localWatchers = (dropId: string) => publicNs.adapter.rooms.get(dropRoom(dropId))?.size ?? 0;

  let closing = false;

  /** Watchers on every process: each answers with its own room size (no socket lists cross Redis). */
  async function watcherCount(dropId: string): Promise<number> {
    // Once closing, Redis may already be gone: the adapter would publish on a closed client.
    if (!redis || closing || !redis.up()) return localWatchers(dropId);
    try {
      // The adapter first asks Redis how many processes listen, and only then starts its own
      // timeout: when Redis drops at that moment the question waits in the client's offline
      // queue until Redis is back, and this drop's counts would stall with it. Bounded here.
      let timer: NodeJS.Timeout | undefined;
      const others = (await Promise.race([
        (publicNs as unknown as Namespace).serverSideEmitWithAck('room-size', dropId),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('watcher count timed out')), WATCHER_COUNT_TIMEOUT_MS);
        }),
      ]).finally(() => clearTimeout(timer))) as number[];
      return localWatchers(dropId) + others.reduce((sum, n) => sum + (Number(n) || 0), 0);
    } catch {
      return localWatchers(dropId);
    }
  }
  publicNs.on('room-size' as never, ((dropId: string, reply: (size: number) => void) => reply(localWatchers(dropId))) as never);

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
      rooms().to(dropRoom(value.dropId)).to(LOBBY).emit('drop:counts', value);
    },
    onError: (error) => log.warn({ err: error }, 'could not read drop counts'),
  });

  const tracker = createPositionTracker(orm);
  /** Positions of this process's signed-in watchers of a drop, pushed to those whose rank moved. */
  async function pushPositions(dropId: string): Promise<undefined> {
    const userIds = new Set<string>();
    for (const id of publicNs.adapter.rooms.get(dropRoom(dropId)) ?? []) {
      const userId = publicNs.sockets.get(id)?.data.auth?.userId;
      if (userId) userIds.add(userId);
    }
    // A frozen PRIORITY line: each watcher's place in it ("#214; 37 reservations ahead still open").
    const places = await services.reservations.viewsFor(orm.em.fork(), dropId, [...userIds]);
    if (places.size > 0) {
      const before = lastLine.get(dropId) ?? new Map<string, string>();
      const now = new Map<string, string>();
      for (const [userId, view] of places) {
        const key = lineKey(view);
        now.set(userId, key);
        if (before.get(userId) !== key) publicNs.to(userRoom(userId)).emit('me:reservation', view);
      }
      lastLine.set(dropId, now);
      return undefined;
    }
    for (const { userId, position } of await tracker.changed(dropId, [...userIds])) {
      rooms().to(userRoom(userId)).emit('me:position', position);
    }
    return undefined;
  }
  const lastLine = new Map<string, Map<string, string>>();
  /** PRIORITY drops this process has seen line events for: their claims move the line too (FCFS claims do not touch positions). */
  const priorityDrops = new Set<string>();
  const lineKey = (view: ReservationView) => `${view.status}|${view.rank}|${view.expiresAt}|${view.waitingAhead}|${view.openReservations}|${view.remaining}`;
  const positions = createCountCoalescer({
    intervalMs: deps.limits?.positionIntervalMs ?? 1000,
    read: pushPositions,
    send: () => {},
    onError: (error) => log.warn({ err: error }, 'could not push waitlist positions'),
  });
  publicNs.on('positions-dirty' as never, ((dropId: string) => positions.markDirty(dropId)) as never);

  // ---- fan-out of published events ---------------------------------------------------------
  const stream = createStreamDelivery({ after: (cursor, limit) => services.events.after(cursor, limit), logger: log });
  eventsNs.on('stream' as never, ((event: StreamEvent) => stream.deliver(event)) as never);

  function fanOut(events: PublishedEvent[]): void {
    for (const event of events) {
      const publicEvent = toPublicEvent(event);
      stream.deliver(publicEvent);
      if (redis?.up() && !closing) eventsNs.serverSideEmit('stream', publicEvent);
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
        // Watchers of a drop that went back to draft learn it is gone; admins see everything.
        rooms().to(dropRoom(dropId)).emit('drop:window', drop && !drop.isActive ? { ...message, type: 'deleted' } : message);
        admins().emit('drop:window', message);
      }
      if (windowType || event.type === 'drop.created') {
        void scheduler.reload(dropId).catch((error: unknown) => log.warn({ err: error }, 'scheduler reload failed'));
        if (redis?.up() && !closing) publicNs.serverSideEmit('window-changed', dropId);
      }
      if (event.type === 'drop.deleted' || (drop && !drop.isActive)) {
        // Drafts are never shown to the public lobby.
        rooms().to(LOBBY).emit('drops:deleted', { dropId });
        if (event.type === 'drop.deleted') {
          counts.forget(dropId);
          positions.forget(dropId);
          lastLine.delete(dropId);
          priorityDrops.delete(dropId);
          tracker.forget(dropId);
        }
      } else if (drop) {
        rooms().to(LOBBY).emit('drops:changed', drop);
      }
      if (event.type === 'claim.issued' || event.type === 'claim.released' || event.type === 'waitlist.joined' || event.type === 'waitlist.left') {
        counts.markDirty(dropId);
      }
      if (LINE_TYPES.has(event.type) || windowType || event.type === 'drop.created') {
        void line.reload(dropId).catch((error: unknown) => log.warn({ err: error }, 'line scheduler reload failed'));
        if (redis?.up() && !closing) publicNs.serverSideEmit('line-changed', dropId);
      }
      if (LINE_TYPES.has(event.type)) priorityDrops.add(dropId);
      if (event.type === 'ranking.frozen') {
        rooms().to(dropRoom(dropId)).emit('drop:ranking', event.payload as { dropId: string; ranked: number; commitment: string; frozenAt: string });
      }
      if (LINE_TYPES.has(event.type)) {
        const message: ReservationEvent = { dropId, type: event.type as ReservationEvent['type'], payload: event.payload, at: event.at };
        admins().emit('drop:reservations', message);
      }
      if (event.userId && PERSONAL_LINE_TYPES.has(event.type)) {
        rooms().to(userRoom(event.userId)).emit('me:reservation', event.payload.reservation as ReservationView);
      }
      // Places in line move with joins and leaves, and in a PRIORITY line with every grant, expiry
      // and claim (everyone waiting sees how many reservations ahead are still open).
      const linePosition = LINE_TYPES.has(event.type) || (event.type === 'claim.issued' && priorityDrops.has(dropId));
      if (event.type === 'waitlist.joined' || event.type === 'waitlist.left' || linePosition) {
        positions.markDirty(dropId);
        if (redis?.up() && !closing) publicNs.serverSideEmit('positions-dirty', dropId);
      }
      if (event.userId && (event.type === 'claim.issued' || event.type === 'claim.redeemed')) {
        rooms().to(userRoom(event.userId)).emit('me:claim', event.payload.claim as never);
      }
      if (event.userId && (event.type === 'waitlist.joined' || event.type === 'waitlist.left')) {
        const entry = event.type === 'waitlist.joined' ? (event.payload.entry as never) : null;
        rooms().to(userRoom(event.userId)).emit('me:waitlist', { dropId, entry });
      }
    }
  }

  const relay = createOutboxRelay({ orm, logger: log, publish: fanOut });
  const notifier: EventNotifier = { committed: () => relay.poke() };
  const scheduler = createWindowScheduler({ orm, logger: log, notifier });
  const line = createLineScheduler({ reservations: services.reservations, logger: log });
  publicNs.on('line-changed' as never, ((dropId: string) => void line.reload(dropId).catch(() => undefined)) as never);
  publicNs.on('window-changed' as never, ((dropId: string) => void scheduler.reload(dropId).catch(() => undefined)) as never);

  // Another process ended sessions: forget them here too.
  publicNs.on('sessions-ended' as never, ((sessions: EndedSession[]) => services.auth.forgetSessions(sessions)) as never);

  // ---- who is signed in on the default namespace -------------------------------------------
  const expiryTimers = new WeakMap<PublicSocket, NodeJS.Timeout>();

  async function signOutSocket(socket: PublicSocket, reason: DomainError): Promise<void> {
    clearTimeout(expiryTimers.get(socket));
    const auth = socket.data.auth;
    socket.data.auth = undefined;
    socket.data.token = undefined;
    if (auth) {
      await socket.leave(userRoom(auth.userId));
      await socket.leave(sessionRoom(auth.sessionId));
    }
    socket.emit('session:expired', { code: reason.code, message: reason.message });
  }

  async function signInSocket(socket: PublicSocket, token: string): Promise<SessionInfo> {
    const auth = await services.auth.authenticate(token, 'bearer');
    const previous = socket.data.auth;
    if (previous) {
      await socket.leave(userRoom(previous.userId));
      await socket.leave(sessionRoom(previous.sessionId));
    }
    socket.data.auth = auth;
    socket.data.token = token;
    await socket.join([userRoom(auth.userId), sessionRoom(auth.sessionId)]);
    // When the token expires the socket stops hearing personal events until it signs in again.
    clearTimeout(expiryTimers.get(socket));
    const exp = (jwt.decode(token) as { exp?: number } | null)?.exp;
    if (exp) {
      const timer = setTimeout(() => {
        void signOutSocket(socket, new DomainError('TOKEN_EXPIRED', 'The access token has expired; refresh it and send `auth`.'));
      }, Math.max(0, exp * 1000 - Date.now()));
      timer.unref();
      expiryTimers.set(socket, timer);
    }
    return { userId: auth.userId, role: auth.role };
  }

  /**
   * The socket's user, checked again now (expiry, logout, revocation). A socket whose credentials
   * stopped working is signed out and gets the reason; a visitor gets `UNAUTHENTICATED`.
   */
  async function currentUser(socket: PublicSocket): Promise<AuthContext> {
    if (!socket.data.token) throw new DomainError('UNAUTHENTICATED', 'Sign in first (send `auth` with an access token).');
    try {
      const auth = await services.auth.authenticate(socket.data.token, 'bearer');
      socket.data.auth = auth;
      return auth;
    } catch (error) {
      const known = toDomainError(error);
      if (known?.status === 401) await signOutSocket(socket, known);
      throw error;
    }
  }

  /** Like `currentUser`, but a visitor (or a socket just signed out) simply watches anonymously. */
  async function viewer(socket: PublicSocket): Promise<AuthContext | undefined> {
    return currentUser(socket).catch((error: unknown) => {
      if (toDomainError(error)?.status === 401) return undefined;
      throw error;
    });
  }

  publicNs.use(
    guarded(async (raw) => {
      const socket = raw as unknown as PublicSocket;
      const token = handshakeToken(socket);
      if (!token) return;
      try {
        await signInSocket(socket, token);
      } catch (error) {
        const known = toDomainError(error);
        if (!known || known.status >= 500) throw error;
        // Still welcome as a visitor; told why, and free to send `auth` with a fresh token.
        socket.data.auth = undefined;
        socket.data.token = undefined;
        queueMicrotask(() => socket.emit('session:expired', { code: known.code, message: known.message }));
      }
    }) as never,
  );

  /** Joins `room`, then reads; a failed read leaves the room again unless the socket was already in it. */
  async function joinThenRead<T>(socket: PublicSocket, room: string, read: () => Promise<T>): Promise<T> {
    const already = socket.rooms.has(room);
    await socket.join(room);
    try {
      return await read();
    } catch (error) {
      if (!already) await socket.leave(room);
      throw error;
    }
  }

  publicNs.on('connection', (socket) => {
    socket.on('disconnecting', () => {
      clearTimeout(expiryTimers.get(socket));
      for (const room of socket.rooms) {
        if (!room.startsWith('drop:')) continue;
        counts.markDirty(room.slice(5));
        positions.markDirty(room.slice(5));
      }
    });

    socket.on('auth', handle(socket, authPayloadSchema, async ({ token }) => signInSocket(socket, token)));

    socket.on(
      'drops:watch',
      handle(socket, undefined, async () =>
        // In the room before the read: a change committed meanwhile is in the list or arrives after it.
        joinThenRead(socket, LOBBY, async () => {
          const page = await services.drops.page({ page: 1, pageSize: 100 }, false);
          return { drops: page.items, serverNow: page.serverNow };
        }),
      ),
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
        // In the room before the snapshot is read: a window change committed in between is either in
        // the snapshot or delivered after it, never lost between the two.
        const drop = await joinThenRead(socket, dropRoom(dropId), async () => services.drops.detail(dropId, (await viewer(socket))?.userId));
        counts.markDirty(dropId);
        positions.markDirty(dropId);
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

    /** The signed-in user, counted against the same per-user and per-IP limits as HTTP. */
    const limitedUser = async (action: LimitedAction) => {
      const { userId } = await currentUser(socket);
      await services.limits.consume(action, userId, addressOf(socket as unknown as Socket));
      return userId;
    };
    socket.on('drop:join', handle(socket, dropRefSchema, async ({ dropId }) => services.waitlist.join(await limitedUser('waitlist'), dropId)));
    socket.on('drop:leave', handle(socket, dropRefSchema, async ({ dropId }) => services.waitlist.leave(await limitedUser('waitlist'), dropId)));
    socket.on('drop:claim', handle(socket, dropRefSchema, async ({ dropId }) => services.claims.claim(await limitedUser('claim'), dropId)));
  });

  // ---- /admin and /events: privileged, checked at the handshake and every few seconds --------
  async function requireAdminToken(socket: Socket): Promise<AuthContext> {
    const token = (socket.data as SocketData).token ?? handshakeToken(socket);
    if (!token) throw new DomainError('UNAUTHENTICATED', 'This namespace needs an admin access token.');
    const auth = await services.auth.authenticate(token, 'bearer');
    if (auth.role !== 'ADMIN') throw new DomainError('FORBIDDEN', 'This needs an admin account.');
    Object.assign(socket.data as SocketData, { auth, token });
    return auth;
  }

  adminNs.use(guarded(async (socket) => void (await requireAdminToken(socket))));
  adminNs.on('connection', (socket) => {
    socket.on(
      'window:action',
      handle(socket as unknown as Socket, adminWindowPayloadSchema, async ({ dropId, ...body }) => {
        const auth = await requireAdminToken(socket as unknown as Socket);
        if (body.action === 'extend' && body.seconds === undefined) {
          throw new DomainError('VALIDATION_FAILED', 'extend needs seconds', { issues: [{ path: 'seconds', message: 'extend needs seconds', code: 'custom' }] });
        }
        return services.drops.windowAction(dropId, body, { userId: auth.userId, ip: addressOf(socket as unknown as Socket) });
      }),
    );
    socket.on(
      'reservations:list',
      handle(socket as unknown as Socket, dropRefSchema, async ({ dropId }) => {
        await requireAdminToken(socket as unknown as Socket);
        return services.reservations.adminView(dropId);
      }),
    );
    socket.on(
      'holds:extend',
      handle(socket as unknown as Socket, adminExtendHoldsPayloadSchema, async ({ dropId, seconds }) => {
        const auth = await requireAdminToken(socket as unknown as Socket);
        return services.reservations.extendHolds(dropId, seconds, { userId: auth.userId, ip: addressOf(socket as unknown as Socket) });
      }),
    );
  });

  async function authorizeStream(socket: Socket): Promise<void> {
    const data = socket.data as SocketData;
    if (data.apiTokenId) {
      if (!(await services.events.isLiveToken(data.apiTokenId))) throw new DomainError('TOKEN_INVALID', 'This API token was revoked.');
      return;
    }
    const token = handshakeToken(socket);
    const apiTokenId = token ? await services.events.verifyToken(token) : undefined;
    if (apiTokenId) {
      data.apiTokenId = apiTokenId;
      return;
    }
    if (!data.token && token?.startsWith('dsk_')) throw new DomainError('TOKEN_INVALID', 'This API token is not valid.');
    await requireAdminToken(socket);
  }

  eventsNs.use(
    guarded(async (socket) => {
      await authorizeStream(socket);
      const raw = (socket.handshake.auth as { lastEventId?: unknown } | undefined)?.lastEventId;
      const lastEventId = raw === undefined ? 0 : Number(raw);
      if (!Number.isSafeInteger(lastEventId) || lastEventId < 0) {
        throw new DomainError('VALIDATION_FAILED', 'lastEventId must be a whole number of zero or more.');
      }
      const newest = await services.events.newestId();
      if (lastEventId > newest) {
        throw new DomainError('VALIDATION_FAILED', `lastEventId ${lastEventId} is ahead of the stream (newest is ${newest}).`);
      }
      (socket.data as SocketData & { lastEventId?: number }).lastEventId = lastEventId;
    }),
  );
  eventsNs.on('connection', (socket) => {
    stream.attach(socket as unknown as Socket, (socket.data as SocketData & { lastEventId?: number }).lastEventId ?? 0);
  });

  /** A demoted admin, a revoked session or a revoked API token loses its privileged sockets. */
  async function recheckPrivileged(): Promise<void> {
    for (const ns of [adminNs, eventsNs] as unknown as Namespace[]) {
      for (const socket of ns.sockets.values()) {
        const check = ns === (eventsNs as unknown as Namespace) ? authorizeStream(socket) : requireAdminToken(socket);
        await check.catch((error: unknown) => {
          const known = toDomainError(error);
          if (!known || known.status >= 500) return; // the database is away: check again later
          socket.emit('session:expired' as never, { code: known.code, message: known.message } as never);
          socket.disconnect(true);
        });
      }
    }
  }
  const recheckTimer = setInterval(() => void recheckPrivileged().catch(() => undefined), RECHECK_MS);
  recheckTimer.unref();

  // ---- database status ------------------------------------------------------------------------
  // Sockets are told when the database goes away (their actions answer SERVICE_UNAVAILABLE
  // meanwhile) and when it is back, which is their cue to re-watch and re-sync.
  let databaseUp = true;
  let checking = false;
  async function checkDatabase(): Promise<void> {
    if (checking) return;
    checking = true;
    let up: boolean;
    try {
      await Promise.race([
        orm.em.getConnection().execute('select 1'),
        new Promise((_, reject) => setTimeout(() => reject(new Error('database check timed out')), 2000).unref()),
      ]);
      up = true;
    } catch {
      up = false;
    } finally {
      checking = false;
    }
    if (up === databaseUp) return;
    databaseUp = up;
    log[up ? 'info' : 'warn']({ database: up ? 'up' : 'down' }, up ? 'database is back' : 'database is unreachable');
    // Each process watches its own connection to the database and tells its own sockets.
    publicNs.local.emit('server:status', { database: up ? 'up' : 'down', serverNow: new Date().toISOString() });
    if (up) relay.poke();
  }
  const databaseTimer = setInterval(() => void checkDatabase(), deps.limits?.databaseCheckMs ?? 2000);
  databaseTimer.unref();

  return {
    io,
    /** Services call this after a commit that wrote outbox events. */
    notifier,
    async start(): Promise<void> {
      if (config.redisUrl) await attachRedis(config.redisUrl);
      await scheduler.start();
      await line.start();
      relay.start();
    },
    /** `off` without REDIS_URL; `down` while Redis is unreachable (this process then works alone). */
    redisStatus(): 'off' | 'up' | 'down' {
      if (!redis) return 'off';
      return redis.up() ? 'up' : 'down';
    },
    /** Closes the sockets of a revoked API token, on every process. */
    disconnectApiToken(id: string): void {
      void (async () => {
        for (const socket of await eventsNs.fetchSockets()) {
          if ((socket.data as SocketData).apiTokenId === id) socket.disconnect(true);
        }
      })().catch((error: unknown) => log.warn({ err: error }, 'could not disconnect a revoked API token'));
    },
    /** A deleted account's connections are told why and closed: its own sockets on every process, privileged ones here (elsewhere at the next re-check). */
    disconnectUser(userId: string): void {
      const gone = { code: 'SESSION_REVOKED' as const, message: 'This account was deleted.' };
      publicNs.in(userRoom(userId)).emit('session:expired', gone);
      publicNs.in(userRoom(userId)).disconnectSockets(true);
      for (const ns of [adminNs, eventsNs] as unknown as Namespace[]) {
        for (const socket of ns.sockets.values()) {
          if ((socket.data as SocketData).auth?.userId !== userId) continue;
          socket.emit('session:expired' as never, gone as never);
          socket.disconnect(true);
        }
      }
    },
    /** Signed-out sessions stop working and receiving personal events at once, on every process. */
    sessionsEnded(sessions: EndedSession[]): void {
      if (redis?.up() && !closing) publicNs.serverSideEmit('sessions-ended', sessions);
      for (const { sessionId, userId } of sessions) {
        const room = publicNs.in(sessionRoom(sessionId));
        room.emit('session:expired', { code: 'SESSION_REVOKED', message: 'This session has ended; sign in again.' });
        room.socketsLeave([userRoom(userId), sessionRoom(sessionId)]);
      }
    },
    async close(reason = 'server shutting down'): Promise<void> {
      closing = true;
      // Only this process is stopping: the other processes' sockets stay.
      publicNs.local.emit('server:shutdown', { reason });
      clearInterval(recheckTimer);
      clearInterval(databaseTimer);
      scheduler.stop();
      line.stop();
      counts.close();
      positions.close();
      tracker.clear();
      await relay.stop();
      // io.close() disconnects every socket and closes the HTTP server: no new requests. Requests
      // in flight (a claim being committed) may finish for a few seconds; idle keep-alive
      // connections are closed at once so they do not hold the server open.
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => httpServer.closeAllConnections(), deps.limits?.drainMs ?? 10_000);
        void io.close(() => {
          clearTimeout(force);
          resolve();
        });
        httpServer.closeIdleConnections();
      });
      await redis?.close();
    },
  };
}

export type Realtime = ReturnType<typeof createRealtime>;
