import { untrack } from 'svelte';
import type { DropView } from '@dropspot/protocol';
import { clock } from '../clock.svelte.ts';
import type { Connection } from './connection.svelte.ts';

/**
 * The drops list, live: new and changed drops arrive as `drops:changed`, removed ones as
 * `drops:deleted`, and claims move each drop's numbers through `drop:counts`.
 */
export class Lobby {
  drops = $state<DropView[]>([]);
  #reload: (() => Promise<DropView[]>) | undefined;
  #serverNow: string;

  /**
   * `reload`: where a fresh list comes from after a reconnect. Without it the public list of the
   * `drops:watch` ack is used; the admin dashboard passes its own, which keeps unpublished drops.
   */
  constructor(initial: DropView[], serverNow: string, reload?: () => Promise<DropView[]>) {
    this.drops = initial;
    this.#reload = reload;
    this.#serverNow = serverNow;
  }

  /** Meant to be returned from an `$effect`: it tracks nothing, so the effect runs once per room. */
  start(connection: Connection): () => void {
    return untrack(() => this.#open(connection));
  }

  #open(connection: Connection): () => void {
    clock.sync(this.#serverNow);
    const off = connection.on({
      'drops:changed': (drop) => {
        const index = this.drops.findIndex((d) => d.id === drop.id);
        if (!drop.isActive && !this.#reload) this.drops = this.drops.filter((d) => d.id !== drop.id);
        else if (index === -1) this.drops = [...this.drops, drop];
        else this.drops[index] = drop;
      },
      'drops:deleted': ({ dropId }) => {
        // The public lobby hears "deleted" for unpublished drops too: the admin list asks again.
        if (this.#reload) void this.#reload().then((drops) => (this.drops = drops), () => undefined);
        else this.drops = this.drops.filter((d) => d.id !== dropId);
      },
      'drop:counts': (counts) => {
        const drop = this.drops.find((d) => d.id === counts.dropId);
        if (!drop) return;
        drop.claimed = counts.claimed;
        drop.remaining = counts.remaining;
        drop.totalSlots = counts.totalSlots;
        drop.waitlistCount = counts.waitlistCount;
      },
    });
    const offConnect = connection.onConnect(() => {
      void connection.request('drops:watch').then(async (ack) => {
        if (!ack.ok) return;
        this.drops = this.#reload ? await this.#reload().catch(() => this.drops) : ack.data.drops;
      });
    });
    return () => {
      off();
      offConnect();
      if (connection.socket.connected) connection.socket.emit('drops:unwatch');
    };
  }
}
