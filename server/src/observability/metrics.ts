import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics. Every part of the server reports through this one interface (modules,
 * realtime and http alike may import it: it imports none of them), and an app builds its own
 * instance, so two apps in one process (tests, the bench) never share counters.
 *
 * Off (the default), every hook is a no-op and nothing is collected: the claim path pays one
 * empty call. On, each hook is a counter increment or a histogram observation in memory; gauges
 * that need a look at something (sockets, rooms, the outbox, the database pool) are read only
 * when Prometheus scrapes, through `onScrape` readers registered by whoever owns the thing.
 *
 * Labels are bounded: HTTP routes by their template (never the raw path), outcomes by error code,
 * namespaces by name; rooms never become a label except the few busiest (`dropspot_room_watchers_top`).
 */
export interface Metrics {
  readonly enabled: boolean;
  /** Prometheus text format of every metric (reads the scrape-time gauges first). */
  scrape(): Promise<{ contentType: string; body: string }>;
  /** One HTTP request answered: `route` is the route template (`/api/drops/:id/claim`), not the path. */
  http(method: string, route: string, status: number, seconds: number): void;
  /** One claim answered: `issued`, `existing` (a repeat got its claim back) or the refusal's error code. */
  claim(outcome: string, seconds: number): void;
  /** One group commit of claims: how many users it carried. */
  claimBatch(size: number): void;
  /** One `drop:counts` sent: how long after the first change it carries. */
  countsSent(delaySeconds: number): void;
  /** One `/events` subscriber replayed a page of history from the database. */
  streamReplay(events: number): void;
  /** One notification delivery attempt: by mail `sent` or `failed`; by push also `gone` (the device was removed). */
  notification(channel: 'mail' | 'push', result: 'sent' | 'failed' | 'gone'): void;
  /**
   * One webhook delivery attempt, as the dispatcher (modules/webhooks/dispatcher.ts) records it:
   * with `delivered`, `failed` (will retry) or `gave-up`, and the HTTP status class if any.
   */
  webhookDelivery(result: 'delivered' | 'failed' | 'gave-up', statusClass?: '2xx' | '3xx' | '4xx' | '5xx' | 'none'): void;
  /** Registers a reader run at each scrape (sockets, rooms, outbox lag, the pool); returns its removal. */
  onScrape(reader: (gauges: ScrapeGauges) => void | Promise<void>): () => void;
}

/** What scrape-time readers set. */
export interface ScrapeGauges {
  sockets(namespace: string, count: number): void;
  /** Every drop room's watcher count in this process: kept as a distribution plus the few busiest. */
  roomWatchers(rooms: Iterable<[dropId: string, watchers: number]>): void;
  /** Age of the oldest unpublished outbox event (0 when none waits). */
  outboxLag(seconds: number): void;
  dbPool(inUse: number, idle: number, waiting: number): void;
}

/** How many of the busiest rooms get their own series. */
export const TOP_ROOMS = 5;
const WATCHER_BUCKETS = [0, 10, 100, 1_000, 10_000] as const;

const noop = () => {};
const DISABLED: Metrics = {
  enabled: false,
  scrape: () => Promise.resolve({ contentType: 'text/plain', body: '' }),
  http: noop,
  claim: noop,
  claimBatch: noop,
  countsSent: noop,
  streamReplay: noop,
  notification: noop,
  webhookDelivery: noop,
  onScrape: () => noop,
};

export function createMetrics(options: { enabled: boolean; prefix?: string }): Metrics {
  if (!options.enabled) return DISABLED;
  const registry = new Registry();
  const p = options.prefix ?? 'dropspot_';
  const registers = [registry];
  collectDefaultMetrics({ register: registry, prefix: p });

  const httpDuration = new Histogram({
    name: `${p}http_request_duration_seconds`,
    help: 'HTTP requests by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });
  const claims = new Counter({ name: `${p}claims_total`, help: 'Claims answered, by outcome (issued, existing, or the error code)', labelNames: ['outcome'] as const, registers });
  const claimLatency = new Histogram({
    name: `${p}claim_duration_seconds`,
    help: 'From a claim reaching the service to its answer (queueing for the group commit included)',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers,
  });
  const batchSize = new Histogram({ name: `${p}claim_batch_size`, help: 'Users per group commit of claims', buckets: [1, 2, 5, 10, 25, 50, 100, 250], registers });
  const countsDelay = new Histogram({
    name: `${p}counts_delay_seconds`,
    help: 'From the first change of a drop to the drop:counts message that carries it',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5],
    registers,
  });
  const replays = new Counter({ name: `${p}stream_replay_events_total`, help: 'Events replayed from the database to /events subscribers', registers });
  const replayPages = new Counter({ name: `${p}stream_replay_pages_total`, help: 'Pages of history replayed to /events subscribers', registers });
  const notifications = new Counter({ name: `${p}notification_deliveries_total`, help: 'Notification delivery attempts by channel and result', labelNames: ['channel', 'result'] as const, registers });
  const webhooks = new Counter({ name: `${p}webhook_deliveries_total`, help: 'Webhook delivery attempts by result and HTTP status class', labelNames: ['result', 'status'] as const, registers });

  const sockets = new Gauge({ name: `${p}sockets`, help: 'Connected sockets in this process, by namespace', labelNames: ['namespace'] as const, registers });
  const rooms = new Gauge({ name: `${p}rooms_by_watchers`, help: 'Drop rooms in this process by watcher count (le: at most that many watchers)', labelNames: ['le'] as const, registers });
  const watchersTotal = new Gauge({ name: `${p}room_watchers_total`, help: 'Watchers of all drop rooms in this process', registers });
  const topRooms = new Gauge({ name: `${p}room_watchers_top`, help: `Watchers of the ${TOP_ROOMS} busiest drop rooms in this process`, labelNames: ['drop'] as const, registers });
  const outboxLag = new Gauge({ name: `${p}outbox_lag_seconds`, help: 'Age of the oldest unpublished outbox event (0 when none waits)', registers });
  const pool = new Gauge({ name: `${p}db_pool_connections`, help: 'Database pool connections by state (in_use, idle, waiting = requests queued for one)', labelNames: ['state'] as const, registers });

  const gauges: ScrapeGauges = {
    sockets: (namespace, count) => sockets.set({ namespace }, count),
    roomWatchers(entries) {
      const buckets = new Map<string, number>([...WATCHER_BUCKETS.map((b) => [String(b), 0] as [string, number]), ['+Inf', 0]]);
      let total = 0;
      const top: [string, number][] = [];
      for (const [dropId, watchers] of entries) {
        total += watchers;
        for (const b of WATCHER_BUCKETS) if (watchers <= b) buckets.set(String(b), buckets.get(String(b))! + 1);
        buckets.set('+Inf', buckets.get('+Inf')! + 1);
        top.push([dropId, watchers]);
        if (top.length > TOP_ROOMS * 4) top.sort((a, b) => b[1] - a[1]).splice(TOP_ROOMS);
      }
      for (const [le, count] of buckets) rooms.set({ le }, count);
      watchersTotal.set(total);
      topRooms.reset();
      for (const [drop, watchers] of top.sort((a, b) => b[1] - a[1]).slice(0, TOP_ROOMS)) topRooms.set({ drop }, watchers);
    },
    outboxLag: (seconds) => outboxLag.set(seconds),
    dbPool(inUse, idle, waiting) {
      pool.set({ state: 'in_use' }, inUse);
      pool.set({ state: 'idle' }, idle);
      pool.set({ state: 'waiting' }, waiting);
    },
  };
  const readers = new Set<(g: ScrapeGauges) => void | Promise<void>>();

  return {
    enabled: true,
    async scrape() {
      // A reader that fails (the database away) leaves its gauges at their last values; the rest still report.
      await Promise.allSettled([...readers].map(async (read) => read(gauges)));
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
    http: (method, route, status, seconds) => httpDuration.observe({ method, route, status: String(status) }, seconds),
    claim(outcome, seconds) {
      claims.inc({ outcome });
      claimLatency.observe(seconds);
    },
    claimBatch: (size) => batchSize.observe(size),
    countsSent: (delay) => countsDelay.observe(delay),
    streamReplay(events) {
      replayPages.inc();
      replays.inc(events);
    },
    notification: (channel, result) => notifications.inc({ channel, result }),
    webhookDelivery: (result, status = 'none') => webhooks.inc({ result, status }),
    onScrape(reader) {
      readers.add(reader);
      return () => readers.delete(reader);
    },
  };
}

/** Metrics that do nothing: the default wherever no instance is passed in (the CLI, unit tests). */
export const noMetrics: Metrics = DISABLED;
