import type { Action } from '../domain/action.ts';
import type { ActionLimits } from '../domain/action-limits.ts';
import type { SocketAuth } from './socket-auth.ts';
import type { IoSocket } from './types.ts';

/**
 * Runs a declared action for a socket: the same role check and limits as its HTTP route (the
 * payload was already checked with the action's schema by `handle`). The account is checked
 * again at every action, so a signed-out or demoted socket is refused at once.
 */
export function createActionRunner(deps: { auth: SocketAuth; limits: ActionLimits; addressOf: (socket: IoSocket) => string | undefined }) {
  return async function runAction<I, R>(socket: IoSocket, action: Pick<Action<never, R>, 'role' | 'limit'> & { run: (actor: { userId: string; ip: string | null }, input: I) => Promise<R> }, input: I): Promise<R> {
    const { userId } = action.role === 'ADMIN' ? await deps.auth.requireAdmin(socket) : await deps.auth.currentUser(socket);
    const ip = deps.addressOf(socket);
    if (action.limit) await deps.limits.consume(action.limit, userId, ip);
    return action.run({ userId, ip: ip ?? null }, input);
  };
}

export type ActionRunner = ReturnType<typeof createActionRunner>;
