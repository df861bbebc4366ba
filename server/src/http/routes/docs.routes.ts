import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { apiReference } from '@scalar/express-api-reference';
import type { Response } from 'express';
import { z } from 'zod';
import { apiRouter, type ApiRouter, type ApiRoute } from '../api-router.ts';
import { buildAsyncApi } from '../api-docs/asyncapi.ts';
import { buildOpenApi } from '../api-docs/openapi.ts';
import pkg from '../../../../package.json' with { type: 'json' };

const require = createRequire(import.meta.url);
/**
 * Scalar's browser bundle (one self-contained file), served from here: no CDN, nothing loaded
 * from another origin. `npm run build` copies it into the client's build (scripts/copy-scalar.ts),
 * which is what the production image has: the package is a development dependency (its editor
 * components bring build-time peers such as tailwindcss). Without a build, it is found next to
 * the package's entry (the package does not export the file).
 */
const BUILT_BUNDLE = path.resolve(import.meta.dirname, '../../../../client/build/scalar-standalone.js');
let bundle: string | undefined;
const scalarBundle = () => (bundle ??= existsSync(BUILT_BUNDLE) ? BUILT_BUNDLE : path.join(path.dirname(require.resolve('@scalar/api-reference')), 'browser', 'standalone.js'));

const documentSchema = z.looseObject({}).describe('the generated document');

/**
 * The CSP of the reference page: our own origin, plus exactly the inline scripts Scalar's page
 * carries (by hash) and the inline styles it injects at run time. Nothing from elsewhere.
 */
export function referencePagePolicy(html: string): string {
  const hashes = [...html.matchAll(/<script(?![^>]*\ssrc=)[^>]*>([\s\S]*?)<\/script>/g)].map(
    ([, body]) => `'sha256-${createHash('sha256').update(body!).digest('base64')}'`,
  );
  return [
    "default-src 'self'",
    `script-src 'self' ${hashes.join(' ')}`.trim(),
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'self'",
    "frame-ancestors 'self'",
    "form-action 'self'",
  ].join('; ');
}

/**
 * GET /api/openapi.json, /api/asyncapi.json and the interactive reference at /api/docs. The
 * documents are built on first request from every route declared by then (`routes`) and kept.
 */
export function docsRoutes(deps: { routes: () => readonly ApiRoute[] }): ApiRouter {
  const api = apiRouter();
  const tag = 'Documentation';
  let openapi: Record<string, unknown> | undefined;
  let asyncapi: Record<string, unknown> | undefined;

  api.get('/openapi.json', { tag, access: 'public', summary: 'This document: OpenAPI 3.1, generated from the protocol schemas', responses: { 200: documentSchema } }, (_req, res) => {
    openapi ??= buildOpenApi(deps.routes(), { version: pkg.version });
    res.json(openapi);
  });

  api.get('/asyncapi.json', { tag, access: 'public', summary: 'The Socket.IO events: AsyncAPI 3, generated from the protocol schemas', responses: { 200: documentSchema } }, (_req, res) => {
    asyncapi ??= buildAsyncApi({ version: pkg.version });
    res.json(asyncapi);
  });

  const bundleDoc = { tag, access: 'public', summary: "The reference page's script (Scalar, served from here)", responses: { 200: { contentType: 'text/javascript' } } } as const;
  api.get('/docs/scalar.js', bundleDoc, (_req, res) => {
    res.set('Cache-Control', 'public, max-age=86400').sendFile(scalarBundle());
  });

  const render = apiReference({
    url: '/api/openapi.json',
    cdn: '/api/docs/scalar.js',
    pageTitle: 'DropSpot API reference',
    // No fonts, telemetry or proxies from elsewhere: the page works offline and under its CSP.
    withDefaultFonts: false,
    telemetry: false,
    hideClientButton: true,
  });
  let policy: string | undefined;
  const pageDoc = { tag, access: 'public', summary: 'The interactive API reference (HTML)', responses: { 200: { contentType: 'text/html' } } } as const;
  api.get('/docs', pageDoc, (req, res, next) => {
    // Scalar renders the page; its CSP is computed once from what it rendered (the hashes of its inline scripts).
    const send = res.send.bind(res) as Response['send'];
    res.send = (body?: unknown) => {
      policy ??= referencePagePolicy(String(body));
      res.setHeader('Content-Security-Policy', policy);
      return send(body);
    };
    render(req as never, res as never, next);
  });

  return api;
}
