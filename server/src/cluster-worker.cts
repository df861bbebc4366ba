/**
 * The entry point of each worker of WORKERS=N (cluster.ts forks it; it then runs main.ts, which
 * hands over to runWorker). CommonJS on purpose: it runs before the event loop first turns. A
 * worker started again while the others serve is handed connections at once, and a connection
 * handed to a process with no 'message' listener is lost (the client waits in vain). So sticky's
 * messages are held from the first moment, in order, until the app can take them.
 */
const held: [unknown, unknown][] = [];
const hold = (message: unknown, handle: unknown) => {
  const type = (message as { type?: unknown } | null)?.type;
  if (typeof type === 'string' && type.startsWith('sticky:')) held.push([message, handle]);
};
process.on('message', hold);
Object.assign(globalThis, { [Symbol.for('dropspot.held-connections')]: { held, hold } });
void import('./main.ts');
