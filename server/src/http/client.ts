import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { ROOT_DIR } from '../config.ts';

const CLIENT_DIR = path.join(ROOT_DIR, 'client');
export const CLIENT_HANDLER = path.join(CLIENT_DIR, 'build', 'handler.js');
const PROTOCOL_HEADER = 'x-dropspot-protocol';

/**
 * Serves the SvelteKit app from the same process and port as the API and Socket.IO, after the API
 * routes. `built`: the adapter-node handler from `client/build` (what `npm start` builds);
 * `dev`: Vite in middleware mode with hot reload on the same HTTP server (`npm run dev`).
 */
export async function loadClient(mode: 'built' | 'dev', httpServer: Server, logger: Logger): Promise<{ handler: RequestHandler; close: () => Promise<void> }> {
  if (mode === 'dev') {
    // A dev-only dependency of the client workspace, loaded only here.
    const { createServer } = await import('vite');
    const vite = await createServer({
      root: CLIENT_DIR,
      configFile: path.join(CLIENT_DIR, 'vite.config.ts'),
      server: { middlewareMode: true, hmr: { server: httpServer } },
      appType: 'custom',
    });
    logger.info('web client served by Vite with hot reload');
    return { handler: vite.middlewares, close: () => vite.close() };
  }
  if (!existsSync(CLIENT_HANDLER)) {
    throw new Error(`The web client is not built (${path.relative(ROOT_DIR, CLIENT_HANDLER)} is missing): run "npm run build".`);
  }
  // adapter-node takes a page's origin from ORIGIN or PROTOCOL_HEADER and otherwise assumes https,
  // so over plain http SvelteKit's CSRF check refused every form action as cross-site. Express
  // already knows the protocol (by the TRUST_PROXY rules): it hands it over in a header of its own.
  const ownHeader = process.env.PROTOCOL_HEADER === undefined && process.env.ORIGIN === undefined;
  if (ownHeader) process.env.PROTOCOL_HEADER = PROTOCOL_HEADER;
  const { handler } = (await import(pathToFileURL(CLIENT_HANDLER).href)) as { handler: RequestHandler };
  if (!ownHeader) return { handler, close: async () => {} };
  return {
    handler: (req, res, next) => {
      req.headers[PROTOCOL_HEADER] = req.protocol;
      return handler(req, res, next);
    },
    close: async () => {},
  };
}
