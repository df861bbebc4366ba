import { Router, type RequestHandler } from 'express';
import type { z } from 'zod';
import type { ErrorCode } from '@dropspot/protocol';
import type { Action } from '../domain/action.ts';
import { actionRoute, type ActionRouteOptions } from './action-route.ts';
import { requireAdmin, requireUser } from './auth-middleware.ts';

/**
 * Every HTTP route is declared once, with its description: the method, the path, who may call it,
 * its inputs and answers as protocol schemas. The Express router and the OpenAPI document
 * (`api-docs/openapi.ts`) both read the declaration, and the access guard comes from it too, so
 * the document cannot say "admin" of a route that lets users in.
 */
export type Access = 'public' | 'user' | 'admin' | 'stream' | 'metrics';
export type Method = 'get' | 'post' | 'patch' | 'delete';

export interface ResponseDoc {
  description?: string;
  /** The JSON body; absent: no body (204, 304) or a body that is not JSON (`contentType`). */
  schema?: z.ZodType;
  /** Default `application/json` when there is a schema. */
  contentType?: string;
  /** Other media types the same status may come as (no schema), e.g. a CSV download of the same data. */
  alsoAs?: readonly string[];
}

export interface RouteDoc {
  summary: string;
  description?: string;
  tag: string;
  /**
   * public: anyone; user / admin: the guard is added here (401 / 403); stream: an admin or an
   * API token (the route checks); metrics: the metrics token (the route checks).
   */
  access: Access;
  /** Path parameters that are not plain strings. */
  params?: Record<string, z.ZodType>;
  query?: z.ZodType;
  body?: z.ZodType;
  /** Success answers by status: a JSON schema, null for no body, or the full description. */
  responses: Record<number, z.ZodType | ResponseDoc | null>;
  /** The error codes this route reports besides the ones every route of its kind can (auth, input, 5xx). */
  errors?: readonly ErrorCode[];
  /** Limited per account or address: 429 RATE_LIMITED with Retry-After. */
  limited?: boolean;
  /** Honours `Idempotency-Key`. */
  idempotent?: boolean;
}

export interface ApiRoute extends RouteDoc {
  method: Method;
  /** Express path, relative to the router until mounted, then the full path. */
  path: string;
  /** Body fields that come from the path instead (an action's `dropId`). */
  bodyOmits?: readonly string[];
}

export interface ApiRouter {
  /** The Express router (for router-wide middleware). */
  readonly router: Router;
  readonly routes: readonly ApiRoute[];
  get(path: string, doc: RouteDoc, ...handlers: RequestHandler[]): void;
  post(path: string, doc: RouteDoc, ...handlers: RequestHandler[]): void;
  patch(path: string, doc: RouteDoc, ...handlers: RequestHandler[]): void;
  delete(path: string, doc: RouteDoc, ...handlers: RequestHandler[]): void;
  /** A declared action (`domain/action.ts`) on a path with the drop's `:id`: role, limits and input come from the action. */
  action<S extends z.ZodType, R>(method: Method, path: string, action: Action<S, R>, options: ActionRouteOptions<R>, doc: Omit<RouteDoc, 'access' | 'body' | 'limited'>): void;
}

const GUARDS: Record<Access, RequestHandler[]> = { public: [], stream: [], metrics: [], user: [requireUser], admin: [requireAdmin] };

/**
 * Names the route's template for the request (`res.locals.route`, e.g. `/api/drops/:id/claim`),
 * which the HTTP metrics use as their label instead of the raw path. `req.baseUrl` is where the
 * route's router is mounted; a route is mounted once, so the template is worked out once.
 */
function nameRoute(path: string): RequestHandler {
  let template: string | undefined;
  return (req, res, next) => {
    res.locals.route = template ??= joinPath(req.baseUrl, path);
    next();
  };
}

export function apiRouter(): ApiRouter {
  const router = Router();
  const routes: ApiRoute[] = [];
  const add = (method: Method) => (path: string, doc: RouteDoc, ...handlers: RequestHandler[]) => {
    routes.push({ ...doc, method, path });
    router[method](path, nameRoute(path), ...GUARDS[doc.access], ...handlers);
  };
  return {
    router,
    routes,
    get: add('get'),
    post: add('post'),
    patch: add('patch'),
    delete: add('delete'),
    action(method, path, action, options, doc) {
      routes.push({
        ...doc,
        method,
        path,
        access: action.role === 'ADMIN' ? 'admin' : 'user',
        limited: action.limit !== undefined,
        ...(options.body ? { body: action.schema, bodyOmits: ['dropId'] } : {}),
      });
      // actionRoute adds the role's guard itself.
      router[method](path, nameRoute(path), ...actionRoute(action, options));
    },
  };
}

/** All documented routes of the app, with their full paths, in the order they were mounted. */
export interface RouteRegistry {
  readonly routes: readonly ApiRoute[];
  /** `parent.use(path, …routers)`, where `parent` itself answers under `base` (e.g. the /api router). */
  mount(parent: Pick<Router, 'use'>, base: string, path: string, ...routers: ApiRouter[]): void;
}

/** `/api` + `/drops` + `/` → `/api/drops`; Express answers both with and without the final slash. */
export function joinPath(...parts: string[]): string {
  const joined = parts.map((p) => p.replace(/\/+$/, '')).join('');
  return joined === '' ? '/' : joined;
}

export function createRouteRegistry(): RouteRegistry {
  const routes: ApiRoute[] = [];
  return {
    routes,
    mount(parent, base, path, ...routers) {
      parent.use(path, ...routers.map((r) => r.router));
      for (const r of routers) for (const route of r.routes) routes.push({ ...route, path: joinPath(base, path, route.path) });
    },
  };
}
