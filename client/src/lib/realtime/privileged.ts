import { io, type Socket } from 'socket.io-client';
import { currentAccessToken, refreshSession } from '../api.ts';
import { RENEWABLE, type ConnectionStatus } from './connection.svelte.ts';

/** The least time between two renewals, and the wait after a refresh that failed (offline, busy). */
const RETRY_MS = 5000;

/**
 * A socket on `/admin` or `/events`. It shares the page's connection with the default namespace,
 * and a namespace joining an open connection is judged by that connection's cookie header, from
 * when it opened: so every (re)connect sends the page's freshest access token in `auth`.
 *
 * The server checks these namespaces every few seconds and ends just this socket when the
 * session's token expired (saying `session:expired` first), and refuses a handshake with an
 * expired token: either way the session is refreshed and this namespace connects again, while the
 * page's other namespaces carry on. `onStatus` hears `offline` when it will not come back
 * (signed out, demoted, revoked). `close` ends it for good.
 */
export function privilegedSocket<S extends object>(
  namespace: '/admin' | '/events',
  options: { auth?: () => Record<string, unknown>; onStatus?: (status: ConnectionStatus, error?: string) => void } = {},
): { socket: Socket<S>; close: () => void } {
  let sent: string | undefined;
  const socket: Socket<S> = io(namespace, {
    transports: ['websocket', 'polling'],
    withCredentials: true,
    auth: (send) => {
      sent = currentAccessToken();
      send({ ...options.auth?.(), ...(sent ? { token: sent } : {}) });
    },
  });
  let retry: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  let renewedAt = 0;
  const renewAndConnect = async (): Promise<void> => {
    // Refused again right after a renewal: pace the attempts instead of refreshing in a loop.
    const wait = renewedAt + RETRY_MS - Date.now();
    if (closed || wait > 0) {
      if (!closed) retry = setTimeout(() => void renewAndConnect(), wait);
      return;
    }
    renewedAt = Date.now();
    // The token just refused is not sent again: a fresher one, or a refresh.
    const fresh = currentAccessToken();
    if (!fresh || fresh === sent) {
      let session;
      try {
        session = await refreshSession();
      } catch {
        retry = setTimeout(() => void renewAndConnect(), RETRY_MS);
        return;
      }
      if (!session) {
        options.onStatus?.('offline');
        return;
      }
    }
    if (!closed) socket.connect();
  };
  let ending: string | undefined;
  (socket as unknown as Socket).on('session:expired', ({ code }: { code: string }) => {
    ending = code;
  });
  socket.on('connect', () => options.onStatus?.('online'));
  socket.on('disconnect', (reason) => {
    const code = ending;
    ending = undefined;
    // A lost link: Socket.IO reconnects by itself.
    if (reason !== 'io server disconnect') options.onStatus?.('reconnecting');
    else if (code && RENEWABLE.has(code)) {
      options.onStatus?.('reconnecting');
      void renewAndConnect();
    } else options.onStatus?.('offline');
  });
  socket.on('connect_error', (error) => {
    const code = (error as Error & { data?: { code?: string } }).data?.code;
    // `active`: a lost link, and Socket.IO keeps trying; otherwise the server refused the handshake.
    if (socket.active || (code && RENEWABLE.has(code))) {
      options.onStatus?.('reconnecting', error.message);
      if (!socket.active) void renewAndConnect();
    } else options.onStatus?.('offline', error.message);
  });
  return {
    socket,
    close: () => {
      closed = true;
      clearTimeout(retry);
      socket.disconnect();
    },
  };
}
