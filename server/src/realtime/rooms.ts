/** Room names, in one place so the fan-out and the handlers agree. */
export const LOBBY = 'lobby';
export const dropRoom = (dropId: string) => `drop:${dropId}`;
export const userRoom = (userId: string) => `user:${userId}`;
export const sessionRoom = (sessionId: string) => `session:${sessionId}`;

/** Each drop room of this process with its number of sockets, read from the adapter's room map (for metrics). */
export function* dropRoomSizes(rooms: ReadonlyMap<string, ReadonlySet<string>>): Generator<[dropId: string, sockets: number]> {
  for (const [room, sockets] of rooms) if (room.startsWith('drop:')) yield [room.slice('drop:'.length), sockets.size];
}
