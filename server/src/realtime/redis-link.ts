import { createAdapter as clusterAdapter } from '@socket.io/cluster-adapter';
import { createAdapter } from '@socket.io/redis-adapter';
import type { Logger } from 'pino';
import { createClient } from 'redis';
import type { IoServer } from './types.ts';

export interface RedisLink {
  /** Both clients connected (or, in a cluster, the channel to the primary open): rooms and the event stream span processes. */
  up(): boolean;
  close(): Promise<void>;
}

/**
 * Connects the Socket.IO Redis adapter. Without Redis each process keeps serving its own sockets
 * (room emits stay local); `resync` brings this process's watchers up to date by itself, every
 * second while Redis is down (events published by another process cannot reach these sockets
 * then) and once when it is back (messages published while this process was still
 * re-subscribing are lost to it: Redis pub/sub keeps nothing for a subscriber that is away).
 */
export async function attachRedis(io: IoServer, deps: { url: string; prefix: string; logger: Logger; resync: () => void }): Promise<RedisLink> {
  const { logger: log, resync } = deps;
  // Always retry, capped at 2 s: node-redis's default gives up for good after a connect
  // timeout (a Redis host that stops answering rather than refusing), and this process would
  // then never span processes again.
  const reconnectStrategy = (retries: number) => Math.min(2 ** retries * 50, 2000) + Math.floor(Math.random() * 200);
  const pub = createClient({ url: deps.url, socket: { reconnectStrategy } });
  const sub = pub.duplicate();
  let wasUp = true;
  let outage: NodeJS.Timeout | undefined;
  // node-redis reconnects and re-subscribes before it reports `ready`, so once both clients are
  // ready, rooms span processes again.
  const watch = (client: typeof pub, role: string) => {
    client.on('error', (error: unknown) => log.warn({ err: error, role }, 'redis error'));
    client.on('reconnecting', () => {
      if (!wasUp) return;
      wasUp = false;
      log.warn('redis lost: serving this process\'s sockets alone until it is back');
      outage = setInterval(resync, 1000);
      outage.unref();
    });
    client.on('ready', () => {
      if (!wasUp && pub.isReady && sub.isReady) {
        wasUp = true;
        clearInterval(outage);
        log.info('redis is back: rooms and the event stream span processes again');
        resync();
      }
    });
  };
  watch(pub, 'pub');
  watch(sub, 'sub');
  // The adapter publishes and forgets: a PUBLISH in flight when the connection drops rejects
  // with ECONNRESET and nobody would catch it. A lost broadcast is what an outage means here
  // (`resync` repairs the numbers), so it is counted in the log, not left unhandled.
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
  io.adapter(createAdapter(pub, sub, { key: deps.prefix, requestsTimeout: 1000 }));
  log.info('rooms and the event stream span processes through Redis');
  return {
    up: () => pub.isReady && sub.isReady,
    // A graceful quit waits for a connection that may never come back: give it a second.
    close: async () => {
      clearInterval(outage);
      const quit = Promise.allSettled([pub.quit(), sub.quit()]);
      await Promise.race([quit, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
      for (const client of [pub, sub]) if (client.isOpen) client.destroy();
    },
  };
}

/**
 * A worker of WORKERS=N without Redis: the cluster adapter carries room broadcasts and
 * server-side emits between this machine's workers through the primary (setupPrimary in
 * cluster.ts). It spans the workers for as long as this process's channel to the primary is open.
 */
export function attachCluster(io: IoServer, logger: Logger): RedisLink {
  io.adapter(clusterAdapter());
  logger.info('rooms and the event stream span this machine\'s workers (cluster adapter)');
  return { up: () => process.connected, close: async () => {} };
}
