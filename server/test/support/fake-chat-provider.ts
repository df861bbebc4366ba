import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * What the next chat-completions request gets:
 * - `stream`: the chunks as `data: {choices:[{delta:{content}}]}` events, then `data: [DONE]`;
 *   with `holdLast`, the last chunk waits until `release()` (so a test can see text arrive while
 *   the provider is still writing); `pauseMs` between chunks (the browser test watches text grow).
 * - `status`: an HTTP error with an OpenAI-style error body.
 * - `hang`: headers never come.
 * - `stall`: these chunks, then nothing more (the connection stays open).
 */
export type ChatBehaviour =
  | { kind: 'stream'; chunks: string[]; holdLast?: boolean; pauseMs?: number }
  | { kind: 'status'; status: number }
  | { kind: 'hang' }
  | { kind: 'stall'; chunks: string[] };

export interface FakeChatProvider {
  /** The base URL for AI_BASE_URL (`http://127.0.0.1:<port>/v1`). */
  url: string;
  /** Every request received: its headers and parsed JSON body. */
  requests: Array<{ path: string; headers: IncomingHttpHeaders; body: any }>;
  /** What every following request gets (default: a short three-chunk stream). */
  behave(behaviour: ChatBehaviour): void;
  /** Sends a held last chunk (`holdLast`). */
  release(): void;
  close(): Promise<void>;
}

/** A suggestion the browser tests' provider streams word by word (client/tests/e2e-server.ts). */
export const SAMPLE_SUGGESTION = 'Forty hand-thrown stoneware mugs in a deep blue glaze, each one a little different.';

function chunk(content: string | null, finish: string | null): string {
  const body = { id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 0, model: 'fake-model', choices: [{ index: 0, delta: content === null ? {} : { content }, finish_reason: finish }] };
  return `data: ${JSON.stringify(body)}\n\n`;
}

/**
 * A real HTTP server on loopback that speaks the streaming chat-completions protocol as OpenAI,
 * Ollama, llama.cpp and vLLM do (POST /v1/chat/completions with `stream: true`, answered with
 * server-sent events), so the app's real client library talks to it over a real socket.
 */
export async function startFakeChatProvider(initial: ChatBehaviour = { kind: 'stream', chunks: ['A limited ', 'run of ', 'hand-made mugs.'] }): Promise<FakeChatProvider> {
  let behaviour = initial;
  const requests: FakeChatProvider['requests'] = [];
  let held: (() => void)[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (data: Buffer) => (raw += data.toString()));
    req.on('end', () => {
      let body: any;
      try {
        body = JSON.parse(raw);
      } catch {
        body = raw;
      }
      requests.push({ path: req.url ?? '', headers: req.headers, body });
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'not found', type: 'invalid_request_error' } }));
        return;
      }
      void answer(res, behaviour);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  async function answer(res: ServerResponse, how: ChatBehaviour): Promise<void> {
    if (how.kind === 'hang') return;
    if (how.kind === 'status') {
      res.writeHead(how.status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `fake failure ${how.status}`, type: 'server_error' } }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write(chunk('', null).replace('"content":""', '"role":"assistant","content":""'));
    const chunks = how.chunks;
    for (const [index, content] of chunks.entries()) {
      const last = index === chunks.length - 1;
      if (how.kind === 'stream' && last && how.holdLast) await new Promise<void>((resolve) => held.push(resolve));
      if (how.kind === 'stream' && how.pauseMs && index > 0) await new Promise((resolve) => setTimeout(resolve, how.pauseMs));
      if (res.destroyed) return;
      res.write(chunk(content, null));
    }
    if (how.kind === 'stall') return;
    res.write(chunk(null, 'stop'));
    res.end('data: [DONE]\n\n');
  }

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    behave: (next) => {
      behaviour = next;
    },
    release: () => {
      const waiting = held;
      held = [];
      for (const resolve of waiting) resolve();
    },
    close: async () => {
      for (const resolve of held) resolve();
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
