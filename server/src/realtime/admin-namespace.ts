import type { Services } from '../services.ts';
import type { ActionRunner } from './action-binding.ts';
import type { Handle } from './socket-handler.ts';
import { guarded, type SocketAuth } from './socket-auth.ts';
import type { IoNamespace, Middleware } from './types.ts';

/** `/admin`: live window control and the PRIORITY line, for the ADMIN role (checked at the handshake and at every action). */
export function bindAdminNamespace(ns: IoNamespace, deps: { handle: Handle; auth: SocketAuth; run: ActionRunner; actions: Services['actions']; capConnections: Middleware }): void {
  const { handle, auth, run, actions } = deps;
  ns.use(guarded(async (socket) => void (await auth.requireAdmin(socket))));
  ns.use(deps.capConnections);
  ns.on('connection', (socket) => {
    socket.on('window:action', handle(socket, 'window:action', actions.window.schema, (input) => run(socket, actions.window, input)));
    socket.on('reservations:list', handle(socket, 'reservations:list', actions.reservations.schema, (input) => run(socket, actions.reservations, input)));
    socket.on('holds:extend', handle(socket, 'holds:extend', actions.extendHolds.schema, (input) => run(socket, actions.extendHolds, input)));
  });
}
