import { DomainError } from '../domain/errors.ts';
import type { IoSocket } from './types.ts';

/** Who a socket is, for the limits: always its address, and its account when signed in. */
export interface SocketIdentity {
  userId: string | undefined;
  address: string;
}

/**
 * Open connections per account and per address, counted in this process. A connection is the
 * underlying engine.io link: a page's `/`, `/admin` and `/events` sockets share one and count
 * once; it is released when that link closes.
 */
type Connection = IoSocket['conn'];

export function createConnectionLimits(caps: { perUser: number; perIp: number }) {
  const connectionsOf = new Map<string, Set<Connection>>();
  const keysOf = new WeakMap<Connection, Set<string>>();

  function release(connection: Connection): void {
    for (const key of keysOf.get(connection) ?? []) {
      const connections = connectionsOf.get(key);
      connections?.delete(connection);
      if (connections?.size === 0) connectionsOf.delete(key);
    }
    keysOf.delete(connection);
  }

  /** Counts the socket's connection against its address and account; TOO_MANY_CONNECTIONS past either cap. */
  function admit(socket: IoSocket, who: SocketIdentity): void {
    const connection = socket.conn;
    const wanted: [string, number][] = [[`ip:${who.address}`, caps.perIp]];
    if (who.userId) wanted.push([`user:${who.userId}`, caps.perUser]);
    for (const [key, cap] of wanted) {
      const connections = connectionsOf.get(key);
      if (connections && !connections.has(connection) && connections.size >= cap) {
        throw new DomainError('TOO_MANY_CONNECTIONS', `Too many open connections ${key.startsWith('user:') ? 'for this account' : 'from this address'}; close some tabs and try again.`);
      }
    }
    // Closed while its handshake was being checked: there is nothing left to count.
    if (connection.readyState === 'closed') return;
    let keys = keysOf.get(connection);
    if (!keys) {
      keys = new Set();
      keysOf.set(connection, keys);
      connection.once('close', () => release(connection));
    }
    for (const [key] of wanted) {
      keys.add(key);
      const connections = connectionsOf.get(key) ?? new Set<Connection>();
      connections.add(connection);
      connectionsOf.set(key, connections);
    }
  }

  return { admit };
}

export type ConnectionLimits = ReturnType<typeof createConnectionLimits>;
