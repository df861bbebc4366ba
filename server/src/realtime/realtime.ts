import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { Server } from 'socket.io';
import type { Config } from '../config.ts';
import type { Orm } from '../db/orm.ts';
import type { SignalHub } from '../domain/signals.ts';
import type { Services } from '../services.ts';
import { createActionRunner } from './action-binding.ts';
import { createConnectionLimits, type SocketIdentity } from './connection-limits.ts';
import { bindAdminNamespace } from './admin-namespace.ts';
import { watchDatabase } from './database-status.ts';
import { bindEventsNamespace } from './events-namespace.ts';
import { fanOut, type DropSignal, type FanOutDeps } from './fan-out.ts';
import { createLiveNumbers } from './live-numbers.ts';
import { createOutboxRelay } from './outbox-relay.ts';
import { bindPublicNamespace } from './public-namespace.ts';
import { attachCluster, attachRedis, type RedisLink } from './redis-link.ts';
import { createRoomRegistry } from './room-registry.ts';
import { createSocketAuth, guarded, sessionEndings } from './socket-auth.ts';
import { createHandlerFactory } from './socket-handler.ts';
import { createStreamDelivery } from './stream-delivery.ts';
import { DEFAULT_LIMITS, type IoServer, type IoSocket, type RealtimeLimits } from './types.ts';
import { createWindowStore } from './window-store.ts';
import { noMetrics, type Metrics } from '../observability/metrics.ts';
import { dropRoomSizes } from './rooms.ts';

export interface RealtimeDeps {
  httpServer: HttpServer;
  config: Readonly<Config>;
  orm: Orm;
  logger: Logger;
  services: Pick<Services, 'auth' | 'events' | 'drops' | 'reservations' | 'lineClock' | 'limits' | 'actions'>;
  /** The domain's signals (commits, ended sessions, deleted accounts): this layer subscribes. */
  signals: Pick<SignalHub, 'subscribe'>;
  /** The client's address as HTTP sees it (`req.ip`, honouring TRUST_PROXY); defaults to the peer address. */
  clientIp?: (req: IncomingMessage) => string | undefined;
  limits?: Partial<RealtimeLimits>;
  /** Sockets, watchers, counts delay and stream replays are reported here. */
  metrics?: Metrics;
  /** Called after each batch of events is published (webhook deliveries and notifications start from there). */
  published?: () => void;
  /** A worker of WORKERS=N without REDIS_URL: rooms and the stream span this machine's workers (cluster adapter). */
  clusterAdapter?: boolean;
}

/**
 * Socket.IO on the app's HTTP server: drop rooms and the lobby for everyone (`/`), `/admin` for
 * live window control, `/events` for the domain event stream. Everything pushed comes from the
 * outbox relay after commit, so nothing is announced that could still roll back. This file only
 * composes; each responsibility has its module.
 */
export function createRealtime(deps: RealtimeDeps) {
  const { httpServer, config, orm, logger, services } = deps;
  const { socketLimits } = config;
  const limits = { ...DEFAULT_LIMITS, eventsPerSecond: socketLimits.eventsPerUserPerSecond, eventsPerIpPerSecond: socketLimits.eventsPerIpPerSecond, ...deps.limits };
  const log = logger.child({ component: 'realtime' });
  const metrics = deps.metrics ?? noMetrics;
  const allowed = new Set(config.corsOrigins);
  /**
   * Behind a proxy every socket's peer is the proxy: per-IP limits and the audit log need the
   * client. Worked out once per socket (its handshake does not change), not at every event.
   */
  const addresses = new WeakMap<IoSocket, string>();
  const addressOf = (socket: IoSocket) => {
    let address = addresses.get(socket);
    if (address === undefined) {
      address = deps.clientIp?.(socket.request) ?? socket.handshake.address;
      addresses.set(socket, address);
    }
    return address;
  };

  const io: IoServer = new Server(httpServer, {
    serveClient: false,
    maxHttpBufferSize: limits.maxPayloadBytes,
    cors: { origin: config.corsOrigins, credentials: true },
    // Browsers always send Origin: only our own origin and the configured ones may connect.
    allowRequest: (req: IncomingMessage, callback) => {
      const origin = req.headers.origin;
      const self = `${'encrypted' in req.socket && req.socket.encrypted ? 'https' : 'http'}://${req.headers.host}`;
      const ok = origin === undefined || origin === self || allowed.has(origin);
      callback(ok ? null : 'origin not allowed', ok);
    },
  });
  const [publicNs, adminNs, eventsNs] = [io.of('/'), io.of('/admin'), io.of('/events')];

  let redis: RedisLink | undefined;
  /** What joins this process to the others: Redis, or the primary of WORKERS=N (the cluster adapter). */
  let link: RedisLink | undefined;
  let closing = false;
  let stopScrape = () => {};
  const spansProcesses = () => !!link && !closing && link.up();
  // Room broadcasts go through the adapter to every process while Redis is up; while it is down,
  // to this process's sockets only, not into the client's offline queue to arrive stale later.
  const rooms = () => (link && !link.up() ? publicNs.local : publicNs);
  const admins = () => (link && !link.up() ? adminNs.local : adminNs);
  /** Tells the other processes about a drop; nothing to tell alone, while Redis is down, or once closing. */
  const broadcast = (event: DropSignal, dropId: string) => {
    if (spansProcesses()) publicNs.serverSideEmit(event, dropId);
  };

  const numbers = createLiveNumbers({ orm, publicNs, reservations: services.reservations, rooms, spansProcesses });
  const relay = createOutboxRelay({
    orm,
    logger: log,
    publish: (events) => {
      fanOut(events, fanOutDeps);
      deps.published?.();
    },
  });
  const windows = createWindowStore({ orm, notifier: { committed: () => relay.poke() } });
  const registry = createRoomRegistry({
    logger: log,
    countIntervalMs: limits.countIntervalMs,
    watcherCountIntervalMs: limits.watcherCountIntervalMs,
    positionIntervalMs: limits.positionIntervalMs,
    sendCounts: numbers.sendCounts,
    countsSent: (ms) => metrics.countsSent(ms / 1000),
    pushPositions: numbers.pushPositions,
    announce: windows.announce,
    window: windows.window,
    upcomingWindows: windows.upcoming,
    tick: services.lineClock.tick,
    nextInstant: services.lineClock.nextInstant,
    pendingLines: services.lineClock.pendingDrops,
    watchers: numbers.localWatchers,
  });

  // `after` is the replay's read: each page read from the database for a subscriber is a replay.
  const replayPage = async (cursor: number, limit: number) => {
    const page = await services.events.after(cursor, limit);
    metrics.streamReplay(page.length);
    return page;
  };
  const stream = createStreamDelivery({ after: replayPage, logger: log });
  const fanOutDeps: FanOutDeps = {
    rooms,
    admins,
    registry,
    broadcast,
    stream: (event) => {
      stream.deliver(event);
      if (spansProcesses()) eventsNs.serverSideEmit('stream', event);
    },
    warn: (error, what) => log.warn({ err: error }, what),
  };

  // What the other processes tell this one.
  eventsNs.on('stream', (event) => stream.deliver(event));
  publicNs.on('positions-dirty', (dropId) => registry.room(dropId)?.markPositions());
  publicNs.on('line-changed', (dropId) => void registry.room(dropId)?.reloadLine().catch(() => undefined));
  publicNs.on('window-changed', (dropId) => void registry.room(dropId)?.reloadWindow().catch(() => undefined));
  publicNs.on('sessions-ended', (sessions) => services.auth.forgetSessions(sessions));

  // Open connections per account and per address, and one event budget per account (per visitor address).
  const connections = createConnectionLimits({ perUser: socketLimits.connectionsPerUser, perIp: socketLimits.connectionsPerIp });
  const identify = (socket: IoSocket): SocketIdentity => ({ userId: socket.data.auth?.userId, address: addressOf(socket) });
  /** Runs after each namespace's own checks, when the socket's account (if any) is known. */
  const capConnections = guarded(async (socket) => connections.admit(socket, identify(socket)));
  const auth = createSocketAuth({ ...services, admitAccount: (socket, userId) => connections.admit(socket, { userId, address: addressOf(socket) }) });
  const handle = createHandlerFactory(limits, log, identify);
  const run = createActionRunner({ auth, limits: services.limits, addressOf });
  bindPublicNamespace(publicNs, { handle, auth, run, registry, services, watcherCount: numbers.watcherCount, capConnections });
  bindAdminNamespace(adminNs, { handle, auth, run, actions: services.actions, capConnections });
  bindEventsNamespace(eventsNs, { auth, events: services.events, stream, capConnections });
  const stopRecheck = auth.recheckEvery(adminNs, eventsNs);

  const stopDatabaseWatch = watchDatabase({
    orm,
    logger: log,
    everyMs: limits.databaseCheckMs,
    // Each process watches its own connection to the database and tells its own sockets.
    changed: (up) => {
      publicNs.local.emit('server:status', { database: up ? 'up' : 'down', serverNow: new Date().toISOString() });
      if (up) relay.poke();
    },
  });

  deps.signals.subscribe({
    committed: () => relay.poke(),
    ...sessionEndings({ publicNs, privileged: [adminNs, eventsNs], spansProcesses }),
  });

  return {
    io,
    /** The live drops of this process (for tests and diagnostics). */
    rooms: registry,
    async start(): Promise<void> {
      if (config.redisUrl) {
        redis = await attachRedis(io, {
          url: config.redisUrl,
          prefix: config.redisPrefix,
          logger: log,
          // Every watched drop gets fresh counts and every stream subscriber catches up from the database.
          resync: () => {
            for (const room of publicNs.adapter.rooms.keys()) if (room.startsWith('drop:')) registry.room(room.slice(5))?.markCounts();
            stream.catchUpAll();
          },
        });
        link = redis;
      } else if (deps.clusterAdapter) {
        link = attachCluster(io, log);
      }
      // The last watcher here left: the room goes too if it has nothing else to do. (Attached
      // after Redis: `io.adapter()` gives every namespace a new adapter.)
      publicNs.adapter.on('delete-room', (room: string) => {
        if (room.startsWith('drop:')) registry.settle(room.slice(5));
      });
      await registry.start();
      relay.start();
      stopScrape = metrics.onScrape((gauges) => {
        for (const ns of [publicNs, adminNs, eventsNs]) gauges.sockets(ns.name, ns.sockets.size);
        gauges.roomWatchers(dropRoomSizes(publicNs.adapter.rooms));
      });
    },
    /** `off` without REDIS_URL; `down` while Redis is unreachable (this process then works alone). */
    redisStatus(): 'off' | 'up' | 'down' {
      if (!redis) return 'off';
      return redis.up() ? 'up' : 'down';
    },
    /** Closes the sockets of a revoked API token, on every process. */
    disconnectApiToken(id: string): void {
      void (async () => {
        for (const socket of await eventsNs.fetchSockets()) if (socket.data.apiTokenId === id) socket.disconnect(true);
      })().catch((error: unknown) => log.warn({ err: error }, 'could not disconnect a revoked API token'));
    },
    async close(reason = 'server shutting down'): Promise<void> {
      closing = true;
      stopScrape();
      // Only this process is stopping: the other processes' sockets stay.
      publicNs.local.emit('server:shutdown', { reason });
      stopRecheck();
      stopDatabaseWatch();
      registry.close();
      await relay.stop();
      // io.close() disconnects every socket and closes the HTTP server: no new requests. Requests
      // in flight (a claim being committed) may finish for a few seconds; idle keep-alive
      // connections are closed at once so they do not hold the server open.
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => httpServer.closeAllConnections(), limits.drainMs);
        void io.close(() => {
          clearTimeout(force);
          resolve();
        });
        httpServer.closeIdleConnections();
      });
      await link?.close();
    },
  };
}

export type Realtime = ReturnType<typeof createRealtime>;
