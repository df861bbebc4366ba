import { createSubscriber } from 'svelte/reactivity';

/**
 * The server is the clock's authority. The offset to the server is measured from round trips
 * (the sample with the shortest round trip wins, as in NTP) and the countdown ticks locally on
 * each whole server second, recomputed from `Date.now()` every time, so it never drifts.
 */
export class ServerClock {
  #offset = $state(0);
  #bestRtt = Number.POSITIVE_INFINITY;
  #measuredAt = 0;
  #subscribe = createSubscriber((update) => {
    let timer: ReturnType<typeof setTimeout>;
    const tick = () => {
      update();
      const ms = Date.now() + this.#offset;
      timer = setTimeout(tick, 1000 - (ms % 1000) + 2);
    };
    tick();
    return () => clearTimeout(timer);
  });

  /**
   * Records a `serverNow` the server sent. With `sentAt` (when the request left) the round trip
   * is known and half of it is added; without it the value is only used until a better one comes.
   */
  sync(serverNow: string, sentAt?: number): void {
    const received = Date.now();
    const server = Date.parse(serverNow);
    if (Number.isNaN(server)) return;
    if (sentAt === undefined) {
      if (this.#bestRtt === Number.POSITIVE_INFINITY) this.#offset = server - received;
      return;
    }
    const rtt = Math.max(0, received - sentAt);
    // Clocks drift and networks change: a measurement older than a minute is replaced.
    if (rtt <= this.#bestRtt || received - this.#measuredAt > 60_000) {
      this.#bestRtt = rtt;
      this.#measuredAt = received;
      this.#offset = server + rtt / 2 - received;
    }
  }

  /** Milliseconds the server's clock is ahead of this device's. */
  get offset(): number {
    return this.#offset;
  }

  /** The server's time now, in ms; read inside an effect or template it updates every second. */
  now(): number {
    this.#subscribe();
    return Date.now() + this.#offset;
  }
}

export const clock = new ServerClock();

/** "2d 03:04:05", "03:04:05" or "04:05" for a countdown. */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const days = Math.floor(total / 86_400);
  const hours = Math.floor((total % 86_400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  const hms = hours > 0 || days > 0 ? `${pad(hours)}:${pad(minutes)}:${pad(seconds)}` : `${pad(minutes)}:${pad(seconds)}`;
  return days > 0 ? `${days}d ${hms}` : hms;
}

/** The same duration in words, for screen readers: "2 days, 3 hours, 4 minutes". */
export function describeDuration(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const parts: string[] = [];
  const units: [number, string][] = [
    [86_400, 'day'],
    [3600, 'hour'],
    [60, 'minute'],
    [1, 'second'],
  ];
  let rest = total;
  for (const [size, name] of units) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0) parts.push(`${n} ${name}${n === 1 ? '' : 's'}`);
    if (parts.length === 2) break;
  }
  return parts.length > 0 ? parts.join(', ') : '0 seconds';
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** An instant in the viewer's own time zone (the server stores UTC). */
export function formatDateTime(iso: string | Date | null | undefined): string {
  if (!iso) return '—';
  return dateTime.format(typeof iso === 'string' ? new Date(iso) : iso);
}
