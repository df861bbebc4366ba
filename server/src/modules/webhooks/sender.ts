import http from 'node:http';
import https from 'node:https';
import { checkLiteralHost, checkUrlShape, guardedLookup, RefusedAddressError } from './url-guard.ts';

/** Bytes of a receiver's answer kept for the admin's delivery list; the rest is never read. */
export const RESPONSE_SNIPPET_BYTES = 500;

export interface AttemptResult {
  ok: boolean;
  /** The receiver's HTTP status, or null when there was no answer. */
  status: number | null;
  error: string | null;
  response: string | null;
  /** The server is stopping: the attempt was cut off and is not counted. */
  aborted: boolean;
}

export interface SendOptions {
  timeoutMs: number;
  /** Aborts the attempt when the server stops. */
  signal: AbortSignal;
}

/**
 * Sends webhook deliveries: one POST per attempt, at most `timeoutMs` from connect to the last
 * byte read, redirects never followed (a 3xx is a failed attempt), the host's addresses checked
 * at connect time (url-guard), and only the first bytes of the answer read. Connections are kept
 * alive between deliveries to the same receiver.
 */
export function createSender(options: { allowPrivate: boolean }) {
  const lookup = guardedLookup(options.allowPrivate);
  const agents = {
    'http:': new http.Agent({ keepAlive: true, maxSockets: 16, lookup }),
    'https:': new https.Agent({ keepAlive: true, maxSockets: 16, lookup }),
  };

  async function send(rawUrl: string, body: string, headers: Record<string, string>, opts: SendOptions): Promise<AttemptResult> {
    const failed = (error: string, status: number | null = null, response: string | null = null): AttemptResult => ({ ok: false, status, error, response, aborted: false });
    let url: URL;
    try {
      url = checkUrlShape(rawUrl);
      checkLiteralHost(url, options.allowPrivate);
    } catch (error) {
      return failed(`refused: ${(error as Error).message}`);
    }
    const timeout = AbortSignal.timeout(opts.timeoutMs);
    const signal = AbortSignal.any([timeout, opts.signal]);
    const agent = agents[url.protocol as 'http:' | 'https:'];
    const transport = url.protocol === 'https:' ? https : http;
    try {
      return await new Promise<AttemptResult>((resolve, reject) => {
        const req = transport.request(
          url,
          { method: 'POST', agent, lookup, signal, headers: { ...headers, 'content-length': Buffer.byteLength(body).toString() } },
          (res) => {
            const chunks: Buffer[] = [];
            let size = 0;
            const finish = () => {
              const status = res.statusCode ?? 0;
              const response = Buffer.concat(chunks).subarray(0, RESPONSE_SNIPPET_BYTES).toString('utf8').replace(/\uFFFD$/, '').replaceAll('\u0000', '') || null;
              if (status >= 200 && status < 300) resolve({ ok: true, status, error: null, response, aborted: false });
              else if (status >= 300 && status < 400) resolve(failed(`redirect to ${res.headers.location ?? '(no location)'} not followed`, status, response));
              else resolve(failed(`answered ${status}`, status, response));
            };
            res.on('data', (chunk: Buffer) => {
              if (size >= RESPONSE_SNIPPET_BYTES) return;
              chunks.push(chunk);
              size += chunk.length;
              // Enough for the snippet: the rest of the answer is not read (and the socket not reused).
              if (size >= RESPONSE_SNIPPET_BYTES) {
                finish();
                res.destroy();
              }
            });
            res.on('end', finish);
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    } catch (error) {
      if (opts.signal.aborted) return { ok: false, status: null, error: 'server stopping', response: null, aborted: true };
      if (timeout.aborted) return failed(`no answer within ${opts.timeoutMs} ms`);
      if (error instanceof RefusedAddressError) return failed(`refused: ${error.message}`);
      const code = (error as NodeJS.ErrnoException).code;
      return failed(`${code ? `${code}: ` : ''}${(error as Error).message}`.slice(0, 300));
    }
  }

  return {
    send,
    close(): void {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  };
}

export type Sender = ReturnType<typeof createSender>;
