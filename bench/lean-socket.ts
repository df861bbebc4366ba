import WebSocket from 'ws';

/**
 * A Socket.IO client for the load generator that speaks only what the claim storm needs, straight
 * over one WebSocket: the Engine.IO handshake, the default namespace's CONNECT with the access
 * token as its `auth`, pings answered, events sent with an ack id and acks matched back. For the
 * same reason the HTTP storm uses undici's lean request API rather than fetch: socket.io-client
 * cost the load generator about twice the CPU per claim (44 % of a core against HTTP's 22 % in the
 * same run), CPU the server then did not get on these two shared cores. The server sees exactly
 * the frames socket.io-client sends (Engine.IO 4, Socket.IO 5 text packets).
 */
export interface LeanSocket {
  ask<T>(event: string, payload: unknown): Promise<T>;
  close(): void;
}

export function connectLean(baseUrl: string, token: string): Promise<LeanSocket> {
  const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`);
  const pending = new Map<number, (reply: unknown) => void>();
  let nextId = 0;
  const socket: LeanSocket = {
    ask: <T>(event: string, payload: unknown) =>
      new Promise<T>((resolve) => {
        const id = nextId++;
        pending.set(id, resolve as (reply: unknown) => void);
        ws.send(`42${id}${JSON.stringify([event, payload])}`);
      }),
    close: () => ws.close(),
  };
  return new Promise((resolve, reject) => {
    ws.on('error', reject);
    ws.on('message', (data: Buffer) => {
      const text = data.toString();
      if (text === '2') return ws.send('3'); // Engine.IO ping → pong
      if (text.startsWith('0')) return ws.send(`40${JSON.stringify({ token })}`); // open → CONNECT "/"
      if (text.startsWith('40')) return resolve(socket); // CONNECT acknowledged
      if (text.startsWith('44')) return reject(new Error(`connect_error ${text.slice(2)}`));
      if (text.startsWith('43')) {
        const match = /^43(\d+)/.exec(text)!;
        const id = Number(match[1]);
        const [reply] = JSON.parse(text.slice(match[0].length)) as unknown[];
        pending.get(id)?.(reply);
        pending.delete(id);
      }
      // Anything else (events the server pushes: counts, me:claim…) is not needed here.
    });
  });
}
