/** Room names, in one place so the fan-out and the handlers agree. */
export const LOBBY = 'lobby';
export const dropRoom = (dropId: string) => `drop:${dropId}`;
export const userRoom = (userId: string) => `user:${userId}`;
export const sessionRoom = (sessionId: string) => `session:${sessionId}`;
