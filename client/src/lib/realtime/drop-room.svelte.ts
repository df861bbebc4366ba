import { untrack } from 'svelte';
import { hasLine, type ClaimView, type DropCounts, type DropDetailView, type DropView, type PositionView, type ReservationView, type WaitlistEntryView, type WindowEvent } from '@dropspot/protocol';
import { ApiError, api } from '../api.ts';
import { clock, describeDuration } from '../clock.svelte.ts';
import { windowPhase, type WindowPhase } from '../drops.ts';
import type { Connection } from './connection.svelte.ts';

type Entry = (WaitlistEntryView & { position: number }) | null;
export type RoomAction = 'join' | 'leave' | 'claim';

const REMAINING_ANNOUNCE_MS = 15_000;
/** Seconds before the window opens or closes at which the countdown is announced. */
const MILESTONES = [600, 300, 60, 30, 10];

const WINDOW_WORDS: Record<WindowEvent['type'], string> = {
  opened: 'The claim window is open.',
  closed: 'The claim window has closed.',
  extended: 'The claim window was extended.',
  paused: 'Claiming is paused.',
  resumed: 'Claiming has resumed.',
  updated: 'The drop was updated.',
  deleted: 'This drop was removed.',
};

/**
 * One drop room as the page sees it: the drop, its live numbers, and the signed-in user's
 * place in it. Starts from the server-rendered snapshot, then follows the socket; every
 * (re)connection asks for a fresh snapshot, so the numbers are never stale after a drop-out.
 */
export class DropRoom {
  drop = $state<DropDetailView>() as DropDetailView;
  watchers = $state(0);
  position = $state<PositionView | null>(null);
  removed = $state(false);
  busy = $state<RoomAction | null>(null);
  error = $state<{ code: string; message: string } | null>(null);
  /** Polite screen-reader announcements: window changes at once, remaining now and then. */
  announcement = $state('');
  #lastRemainingAnnounced = 0;
  #lastMilestone = '';
  #connection: Connection | undefined;

  /** True once a snapshot came over the socket (the page is in the room and following it). */
  synced = $state(false);
  #admin: boolean;

  /**
   * `admin`: the console's view. An unpublished drop has no public room (its watch is refused)
   * but is not gone; its window changes still arrive.
   */
  constructor(initial: DropDetailView, options: { admin?: boolean } = {}) {
    this.drop = initial;
    this.#admin = options.admin ?? false;
  }

  get id(): string {
    return this.drop.id;
  }
  get entry(): Entry {
    return this.drop.me?.waitlist ?? null;
  }
  get claim(): ClaimView | null {
    return this.drop.me?.claim ?? null;
  }
  /** PRIORITY and DRAW drops once frozen: the user's place in line (null when not ranked). */
  get reservation(): ReservationView | null {
    return this.drop.me?.reservation ?? null;
  }
  /** PRIORITY and DRAW drops: slots go down a line frozen when the window opens. */
  get lined(): boolean {
    return hasLine(this.drop.allocationMode);
  }
  /** FCFS with a shuffled opening not served yet: when its interval ends (epoch ms), else 0. */
  get openingEndsAt(): number {
    const seconds = this.drop.openingShuffleSeconds;
    return seconds && !this.drop.openingSettledAt ? Date.parse(this.drop.window.start) + seconds * 1000 : 0;
  }
  /** Inside that interval now: a claim joins the opening's draw and is answered when it ends. */
  get inOpening(): boolean {
    return this.phase === 'live' && clock.now() < this.openingEndsAt;
  }
  get signedIn(): boolean {
    return this.drop.me !== undefined;
  }
  get phase(): WindowPhase {
    return this.removed ? 'removed' : windowPhase(this.drop, clock.now());
  }
  get soldOut(): boolean {
    return this.drop.remaining <= 0;
  }

  /** Subscribes to the room; returns the cleanup that unsubscribes and leaves the room. */
  /** Meant to be returned from an `$effect`: it tracks nothing, so the effect runs once per room. */
  start(connection: Connection): () => void {
    return untrack(() => this.#open(connection));
  }

  #open(connection: Connection): () => void {
    this.#connection = connection;
    clock.sync(this.drop.serverNow);
    const dropId = this.id;
    const off = connection.on({
      'drop:counts': (counts) => {
        if (counts.dropId === dropId) this.#applyCounts(counts);
      },
      'drop:window': (event) => {
        if (event.dropId === dropId) this.applyWindow(event);
      },
      // Back to draft: the server sent nothing of it and took this socket out of its room. The
      // console keeps showing it (its changes arrive on `/admin`).
      'drop:gone': (event) => {
        if (event.dropId !== dropId || this.#admin) return;
        this.removed = true;
        this.#announce(WINDOW_WORDS.deleted);
      },
      'me:claim': (claim) => {
        if (claim.dropId === dropId) this.#setMe({ claim });
      },
      'me:waitlist': ({ dropId: id, entry }) => {
        // The position is not part of this message (it moves with everyone else's); keep the last known.
        if (id === dropId) this.#setMe({ waitlist: entry ? { ...entry, position: this.entry?.position ?? this.position?.position ?? 0 } : null });
      },
      'me:position': (position) => {
        if (position.dropId === dropId) this.position = position;
      },
      'me:reservation': (reservation) => {
        if (reservation.dropId === dropId) this.#setMe({ reservation });
      },
      // PRIORITY and DRAW: the window opened and the line was frozen: a fresh snapshot carries our place.
      'drop:ranking': (event) => {
        if (event.dropId === dropId) void this.#watch(connection);
      },
    });
    const offConnect = connection.onConnect(() => void this.#watch(connection));
    return () => {
      off();
      offConnect();
      clearTimeout(this.#retry);
      this.#connection = undefined;
      if (connection.socket.connected) connection.socket.emit('drop:unwatch', { dropId });
    };
  }

  #retry: ReturnType<typeof setTimeout> | undefined;

  /** Takes a fresh snapshot; a failure other than "gone" is retried with backoff while watching. */
  async #watch(connection: Connection, attempt = 0): Promise<void> {
    clearTimeout(this.#retry);
    const ack = await connection.request('drop:watch', { dropId: this.id });
    if (this.#connection !== connection) return;
    if (ack.ok) {
      this.drop = ack.data.drop;
      this.watchers = ack.data.watchers;
      this.synced = true;
    } else if (ack.code === 'DROP_NOT_FOUND' && !this.#admin) {
      this.removed = true;
    } else if (ack.code !== 'DROP_NOT_FOUND') {
      this.#retry = setTimeout(() => void this.#watch(connection, attempt + 1), Math.min(10_000, 500 * 2 ** attempt));
    }
  }

  #setMe(change: Partial<NonNullable<DropDetailView['me']>>): void {
    const me = this.drop.me ?? { waitlist: null, claim: null };
    this.drop = { ...this.drop, me: { ...me, ...change } };
    if (change.waitlist === null) this.position = null;
  }

  #applyCounts(counts: DropCounts): void {
    this.watchers = counts.watchers;
    const wasSoldOut = this.soldOut;
    this.drop = { ...this.drop, claimed: counts.claimed, remaining: counts.remaining, totalSlots: counts.totalSlots, waitlistCount: counts.waitlistCount };
    clock.sync(counts.serverNow);
    const now = Date.now();
    if (this.soldOut && !wasSoldOut) {
      this.#announce('Sold out: every slot has been claimed.');
    } else if (this.phase === 'live' && now - this.#lastRemainingAnnounced >= REMAINING_ANNOUNCE_MS) {
      this.#lastRemainingAnnounced = now;
      this.#announce(`${counts.remaining} of ${counts.totalSlots} slots remaining.`);
    }
  }

  /** A window change from the room (or, in the admin console, from `/admin`). */
  applyWindow(event: WindowEvent): void {
    this.error = null;
    if (event.drop) this.#mergeDrop(event.drop);
    if (event.type === 'deleted' && !(this.#admin && event.drop)) this.removed = true;
    let words = WINDOW_WORDS[event.type];
    if (event.type === 'extended' && event.window) {
      words += ` It now closes in ${describeDuration(Date.parse(event.window.end) - clock.now())}.`;
    }
    this.#announce(words);
  }

  /**
   * A window event carries the drop as it was at that commit; the live numbers come from counts
   * messages, which may already be newer, so they are kept (remaining follows a new slot total).
   */
  #mergeDrop(drop: DropView): void {
    const { claimed, waitlistCount, me } = this.drop;
    this.drop = { ...drop, claimed, waitlistCount, remaining: drop.totalSlots - claimed, me };
  }

  /**
   * Call every second (from an effect that reads the clock): says "opens in 1 minute" and the like
   * at a few milestones, so screen-reader users hear the countdown without hearing every tick.
   */
  announceMilestones(now: number): void {
    const target = this.phase === 'upcoming' ? Date.parse(this.drop.window.start) : this.phase === 'live' ? Date.parse(this.drop.window.end) : NaN;
    if (Number.isNaN(target)) return;
    const left = Math.ceil((target - now) / 1000);
    // The milestone just passed (a late or throttled tick still finds it), once per target.
    const milestone = MILESTONES.find((m) => left <= m && left > m - 3);
    const key = `${this.phase}:${target}:${milestone}`;
    if (milestone === undefined || key === this.#lastMilestone) return;
    this.#lastMilestone = key;
    this.#announce(`The claim window ${this.phase === 'upcoming' ? 'opens' : 'closes'} in ${describeDuration(left * 1000)}.`);
  }

  #announce(text: string): void {
    // The same sentence twice in a row would not be read again: make it a new string.
    // Read without tracking: announcing from an effect must not make that effect depend on it.
    const current = untrack(() => this.announcement);
    this.announcement = current === text ? `${text}\u00a0` : text;
  }

  /**
   * Join, leave or claim: over the socket when connected, else over HTTP (same service, same rules).
   * `altcha`: the solved proof-of-work challenge that joining a drop with `requirePow` needs.
   */
  async act(action: RoomAction, altcha?: string): Promise<void> {
    if (this.busy) return;
    this.busy = action;
    this.error = null;
    try {
      if (action === 'claim' && !this.entry) await this.#run('join', altcha);
      await this.#run(action, action === 'join' ? altcha : undefined);
    } catch (error) {
      const known = error instanceof ApiError ? error : null;
      this.error = { code: known?.code ?? 'INTERNAL', message: known?.message ?? 'Something went wrong. Please try again.' };
    } finally {
      this.busy = null;
    }
  }

  async #run(action: RoomAction, altcha?: string): Promise<void> {
    const dropId = this.id;
    const connection = this.#connection;
    const fields = altcha ? { altcha } : {};
    if (connection?.socket.connected) {
      // A claim in a shuffled opening is answered when the opening ends: wait that long, and 10 s more.
      const wait = Math.max(10_000, this.openingEndsAt - clock.now() + 10_000);
      let ack = await connection.requestWithin(wait, `drop:${action}`, { dropId, ...fields });
      // A socket whose session ran out: renew once and try again, as HTTP calls do.
      if (!ack.ok && (await connection.renewAfter(ack.code))) ack = await connection.requestWithin(wait, `drop:${action}`, { dropId, ...fields });
      if (!ack.ok) throw new ApiError({ status: 409, code: ack.code, detail: ack.message, issues: ack.issues });
      this.#applyResult(action, ack.data);
      return;
    }
    const result = await api<unknown>(`/api/drops/${dropId}/${action}`, { method: 'POST', idempotencyKey: crypto.randomUUID(), ...(altcha ? { body: fields } : {}) });
    this.#applyResult(action, result);
  }

  #applyResult(action: RoomAction, data: unknown): void {
    if (action === 'claim') this.#setMe({ claim: (data as { claim: ClaimView }).claim });
    else if (action === 'join') this.#setMe({ waitlist: (data as { entry: NonNullable<Entry> }).entry });
    else this.#setMe({ waitlist: null });
  }
}
