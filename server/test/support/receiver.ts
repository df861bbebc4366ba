import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  /** The raw body, exactly as sent (what a signature covers). */
  body: string;
  headers: IncomingHttpHeaders;
  webhookId: string;
  /** The parsed body's event id (`data.id`). */
  eventId: number;
  type: string;
  at: number;
}

export interface Answer {
  status: number;
  body?: string;
  headers?: Record<string, string>;
  /** Resolves when the answer should go (a receiver that is slow, or never answers until told). */
  hold?: Promise<void>;
}

export interface TestReceiver {
  /** `http://127.0.0.1:<port>/hook` */
  url: string;
  /** Every request, in arrival order (retries and duplicates included). */
  received: Received[];
  /** Decides each answer; the default answers 204. `n` counts the requests for the same webhook-id (1 for the first). */
  answer: (request: Received, n: number) => Answer;
  /** The event ids of the requests, first occurrences only (duplicates dropped by webhook-id, as a receiver would). */
  eventIds(): number[];
  close(): Promise<void>;
}

/** A real HTTP receiver on loopback that records every webhook request and answers as told. */
export async function startReceiver(answer: TestReceiver['answer'] = () => ({ status: 204 })): Promise<TestReceiver> {
  const received: Received[] = [];
  const counts = new Map<string, number>();
  const receiver: TestReceiver = {
    url: '',
    received,
    answer,
    eventIds() {
      const seen = new Set<string>();
      return received.filter((r) => !seen.has(r.webhookId) && seen.add(r.webhookId)).map((r) => r.eventId);
    },
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let parsed: { type?: string; data?: { id?: number } } = {};
      try {
        parsed = JSON.parse(body) as typeof parsed;
      } catch {
        // not JSON: recorded as is
      }
      const webhookId = String(req.headers['webhook-id'] ?? '');
      const request: Received = { body, headers: req.headers, webhookId, eventId: Number(parsed.data?.id), type: String(parsed.type), at: Date.now() };
      received.push(request);
      const n = (counts.get(webhookId) ?? 0) + 1;
      counts.set(webhookId, n);
      const reply = receiver.answer(request, n);
      void (reply.hold ?? Promise.resolve()).then(() => {
        if (res.destroyed) return;
        res.writeHead(reply.status, reply.headers);
        res.end(reply.body ?? '');
      });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return receiver;
}
