import jwt from 'jsonwebtoken';
import type { SessionInfo } from '@dropspot/protocol';
import { DomainError, toDomainError } from '../domain/errors.ts';
import type { DomainSignals } from '../domain/signals.ts';
import { ACCESS_COOKIE } from '../http/auth-middleware.ts';
import type { AuthService } from '../modules/auth/auth.service.ts';
import type { EventService } from '../modules/events/event.service.ts';
import type { AuthContext } from '../types.d.ts';
import { sessionRoom, userRoom } from './rooms.ts';
import type { IoNamespace, IoSocket } from './types.ts';

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of header?.split(';') ?? []) {
    const [key, ...rest] = part.trim().split('=');
    if (key !== name) continue;
    try {
      return decodeURIComponent(rest.join('='));
    } catch {
      return undefined; // a malformed %-escape: no usable cookie
    }
  }
  return undefined;
}

/** The access token of a handshake: `auth.token`, else the access cookie. */
export function handshakeToken(socket: IoSocket): string | undefined {
  const auth: unknown = socket.handshake.auth;
  const fromAuth = typeof auth === 'object' && auth !== null && 'token' in auth ? auth.token : undefined;
  if (typeof fromAuth === 'string' && fromAuth.length > 0 && fromAuth.length <= 4096) return fromAuth;
  return cookieValue(socket.handshake.headers.cookie, ACCESS_COOKIE);
}

/** A refused handshake carries the same stable code as HTTP, in `err.data.code`. */
function handshakeError(error: unknown): Error {
  const known = toDomainError(error) ?? new DomainError('INTERNAL', 'Something went wrong on our side.');
  return Object.assign(new Error(known.message), { data: { ...known.extra, code: known.code } });
}

/** Namespace middleware that can never leave a rejected promise behind (Socket.IO would not catch it). */
export function guarded(check: (socket: IoSocket) => Promise<void>) {
  return (socket: IoSocket, next: (error?: Error) => void) => {
    check(socket).then(
      () => next(),
      (error: unknown) => next(handshakeError(error)),
    );
  };
}

/** How often `/admin` and `/events` sockets are checked again (role, session, API token). */
const RECHECK_MS = 5000;

/**
 * Who is behind a socket: signing in and out on the default namespace (with a timer at the
 * token's expiry), the checks of `/admin` and `/events`, and their periodic re-checks.
 */
export function createSocketAuth(deps: {
  auth: Pick<AuthService, 'authenticate'>;
  events: Pick<EventService, 'isLiveToken' | 'verifyToken'>;
  /** Counts a socket's connection against its account once it signs in (TOO_MANY_CONNECTIONS past the cap). */
  admitAccount: (socket: IoSocket, userId: string) => void;
}) {
  const expiryTimers = new WeakMap<IoSocket, NodeJS.Timeout>();

  async function signOut(socket: IoSocket, reason: DomainError): Promise<void> {
    clearTimeout(expiryTimers.get(socket));
    const auth = socket.data.auth;
    socket.data.auth = undefined;
    socket.data.token = undefined;
    if (auth) {
      await socket.leave(userRoom(auth.userId));
      await socket.leave(sessionRoom(auth.sessionId));
    }
    socket.emit('session:expired', { code: reason.code, message: reason.message });
  }

  async function signIn(socket: IoSocket, token: string): Promise<SessionInfo> {
    const auth = await deps.auth.authenticate(token, 'bearer');
    // A visitor's connection signing in counts against the account from now on.
    deps.admitAccount(socket, auth.userId);
    const previous = socket.data.auth;
    if (previous) {
      await socket.leave(userRoom(previous.userId));
      await socket.leave(sessionRoom(previous.sessionId));
    }
    socket.data.auth = auth;
    socket.data.token = token;
    await socket.join([userRoom(auth.userId), sessionRoom(auth.sessionId)]);
    // When the token expires the socket stops hearing personal events until it signs in again.
    clearTimeout(expiryTimers.get(socket));
    const decoded = jwt.decode(token);
    const exp = typeof decoded === 'object' && decoded !== null ? decoded.exp : undefined;
    if (exp) {
      const timer = setTimeout(() => {
        void signOut(socket, new DomainError('TOKEN_EXPIRED', 'The access token has expired; refresh it and send `auth`.'));
      }, Math.max(0, exp * 1000 - Date.now()));
      timer.unref();
      expiryTimers.set(socket, timer);
    }
    return { userId: auth.userId, role: auth.role };
  }

  /** The default namespace's handshake: a bad token still connects, as a visitor told why. */
  async function handshake(socket: IoSocket): Promise<void> {
    const token = handshakeToken(socket);
    if (!token) return;
    try {
      await signIn(socket, token);
    } catch (error) {
      const known = toDomainError(error);
      if (!known || known.status >= 500 || known.code === 'TOO_MANY_CONNECTIONS') throw error;
      // Still welcome as a visitor; told why, and free to send `auth` with a fresh token.
      socket.data.auth = undefined;
      socket.data.token = undefined;
      queueMicrotask(() => socket.emit('session:expired', { code: known.code, message: known.message }));
    }
  }

  /**
   * The socket's user, checked again now (expiry, logout, revocation). A socket whose credentials
   * stopped working is signed out and gets the reason; a visitor gets `UNAUTHENTICATED`.
   */
  async function currentUser(socket: IoSocket): Promise<AuthContext> {
    if (!socket.data.token) throw new DomainError('UNAUTHENTICATED', 'Sign in first (send `auth` with an access token).');
    try {
      const auth = await deps.auth.authenticate(socket.data.token, 'bearer');
      socket.data.auth = auth;
      return auth;
    } catch (error) {
      const known = toDomainError(error);
      if (known?.status === 401) await signOut(socket, known);
      throw error;
    }
  }

  /** Like `currentUser`, but a visitor (or a socket just signed out) simply watches anonymously. */
  async function viewer(socket: IoSocket): Promise<AuthContext | undefined> {
    return currentUser(socket).catch((error: unknown) => {
      if (toDomainError(error)?.status === 401) return undefined;
      throw error;
    });
  }

  async function requireAdmin(socket: IoSocket): Promise<AuthContext> {
    const token = socket.data.token ?? handshakeToken(socket);
    if (!token) throw new DomainError('UNAUTHENTICATED', 'This namespace needs an admin access token.');
    const auth = await deps.auth.authenticate(token, 'bearer');
    if (auth.role !== 'ADMIN') throw new DomainError('FORBIDDEN', 'This needs an admin account.');
    Object.assign(socket.data, { auth, token });
    return auth;
  }

  /** `/events`: a live API token, or an admin's access token. */
  async function authorizeStream(socket: IoSocket): Promise<void> {
    const data = socket.data;
    if (data.apiTokenId) {
      if (!(await deps.events.isLiveToken(data.apiTokenId))) throw new DomainError('TOKEN_INVALID', 'This API token was revoked.');
      return;
    }
    const token = handshakeToken(socket);
    const apiTokenId = token ? await deps.events.verifyToken(token) : undefined;
    if (apiTokenId) {
      data.apiTokenId = apiTokenId;
      return;
    }
    if (!data.token && token?.startsWith('dsk_')) throw new DomainError('TOKEN_INVALID', 'This API token is not valid.');
    await requireAdmin(socket);
  }

  /** A demoted admin, a revoked session or a revoked API token loses its privileged sockets. */
  function recheckEvery(admin: IoNamespace, events: IoNamespace): () => void {
    async function recheck(): Promise<void> {
      for (const [ns, check] of [[admin, requireAdmin], [events, authorizeStream]] as const) {
        for (const socket of ns.sockets.values()) {
          await check(socket).catch((error: unknown) => {
            const known = toDomainError(error);
            if (!known || known.status >= 500) return; // the database is away: check again later
            socket.emit('session:expired', { code: known.code, message: known.message });
            // This namespace only: a browser's page shares one connection between `/`, `/admin` and
            // `/events`, and closing it would end the default namespace for good ("io server disconnect").
            socket.disconnect();
          });
        }
      }
    }
    const timer = setInterval(() => void recheck().catch(() => undefined), RECHECK_MS);
    timer.unref();
    return () => clearInterval(timer);
  }

  return {
    signIn,
    handshake,
    currentUser,
    viewer,
    requireAdmin,
    authorizeStream,
    recheckEvery,
    /** A leaving socket's expiry timer goes with it. */
    forget: (socket: IoSocket) => clearTimeout(expiryTimers.get(socket)),
  };
}

export type SocketAuth = ReturnType<typeof createSocketAuth>;

/**
 * Ended sessions and deleted accounts lose their sockets: signed-out sessions stop working and
 * receiving personal events at once, on every process; a deleted account's own sockets are told
 * why and closed on every process, its privileged ones here (elsewhere at the next re-check).
 */
export function sessionEndings(deps: { publicNs: IoNamespace; privileged: IoNamespace[]; spansProcesses: () => boolean }): Pick<DomainSignals, 'sessionsEnded' | 'accountDeleted'> {
  const { publicNs } = deps;
  return {
    sessionsEnded(sessions) {
      if (deps.spansProcesses()) publicNs.serverSideEmit('sessions-ended', sessions);
      for (const { sessionId, userId } of sessions) {
        const room = publicNs.in(sessionRoom(sessionId));
        room.emit('session:expired', { code: 'SESSION_REVOKED', message: 'This session has ended; sign in again.' });
        room.socketsLeave([userRoom(userId), sessionRoom(sessionId)]);
      }
    },
    accountDeleted(userId) {
      const gone = { code: 'SESSION_REVOKED' as const, message: 'This account was deleted.' };
      publicNs.in(userRoom(userId)).emit('session:expired', gone);
      publicNs.in(userRoom(userId)).disconnectSockets(true);
      for (const ns of deps.privileged) {
        for (const socket of ns.sockets.values()) {
          if (socket.data.auth?.userId !== userId) continue;
          socket.emit('session:expired', gone);
          socket.disconnect(true);
        }
      }
    },
  };
}
