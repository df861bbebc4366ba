import { untrack } from 'svelte';
import { hasLine, type AdminReservationsView, type AdminServerToClientEvents } from '@dropspot/protocol';
import { api } from '../api.ts';
import type { DropRoom } from './drop-room.svelte.ts';
import { privilegedSocket } from './privileged.ts';

/**
 * A drop's admin console as it follows `/admin`: window changes of every drop, published or not
 * (an unpublished drop has no public room), reach its room, and on PRIORITY drops the line (who
 * holds what) is read again whenever the namespace says it moved, and on every (re)connection,
 * since events may have been missed while the link was down.
 */
export class AdminConsole {
  line = $state<AdminReservationsView | null>(null);
  #room: DropRoom;

  constructor(room: DropRoom) {
    this.#room = room;
  }

  /** Meant to be returned from an `$effect`: it tracks nothing, so the effect runs once per room. */
  start(): () => void {
    return untrack(() => this.#open());
  }

  /** Reads the line again (PRIORITY and DRAW drops only); a failed read keeps the last one shown. */
  async refreshLine(): Promise<void> {
    const room = this.#room;
    if (!hasLine(room.drop.allocationMode)) return;
    this.line = await api<AdminReservationsView>(`/api/admin/drops/${room.id}/reservations`).catch(() => this.line);
  }

  #open(): () => void {
    const room = this.#room;
    // Renews an expired session and joins again, while the page's other namespaces carry on.
    const { socket, close } = privilegedSocket<AdminServerToClientEvents>('/admin');
    socket.on('connect', () => void this.refreshLine());
    socket.on('drop:window', (event) => {
      if (event.dropId === room.id) room.applyWindow(event);
    });
    socket.on('drop:reservations', (event) => {
      if (event.dropId === room.id) void this.refreshLine();
    });
    return close;
  }
}
