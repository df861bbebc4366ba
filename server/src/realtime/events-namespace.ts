import { DomainError } from '../domain/errors.ts';
import type { EventService } from '../modules/events/event.service.ts';
import { guarded, type SocketAuth } from './socket-auth.ts';
import type { IoNamespace, Middleware } from './types.ts';
import type { createStreamDelivery } from './stream-delivery.ts';

/** `/events`: the domain event stream, for an admin access token or an API token; `auth.lastEventId` resumes it. */
export function bindEventsNamespace(
  ns: IoNamespace,
  deps: { auth: SocketAuth; events: Pick<EventService, 'newestId' | 'startAfter'>; stream: ReturnType<typeof createStreamDelivery>; capConnections: Middleware },
): void {
  const { auth, events, stream } = deps;
  ns.use(
    guarded(async (socket) => {
      await auth.authorizeStream(socket);
      const handshake: unknown = socket.handshake.auth;
      const raw = typeof handshake === 'object' && handshake !== null && 'lastEventId' in handshake ? handshake.lastEventId : undefined;
      const requested = raw === undefined ? undefined : Number(raw);
      if (requested !== undefined && (!Number.isSafeInteger(requested) || requested < 0)) {
        throw new DomainError('VALIDATION_FAILED', 'lastEventId must be a whole number of zero or more.');
      }
      const newest = await events.newestId();
      if (requested !== undefined && requested > newest) {
        throw new DomainError('VALIDATION_FAILED', `lastEventId ${requested} is ahead of the stream (newest is ${newest}).`);
      }
      // No lastEventId: from the oldest event kept. One before it (pruned by retention): EVENTS_EXPIRED.
      socket.data.lastEventId = await events.startAfter(requested);
    }),
  );
  ns.use(deps.capConnections);
  ns.on('connection', (socket) => stream.attach(socket, socket.data.lastEventId ?? 0));
}
