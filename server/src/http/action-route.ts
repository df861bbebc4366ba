import type { Request, RequestHandler } from 'express';
import type { z } from 'zod';
import type { Action } from '../domain/action.ts';
import type { ActionLimits } from '../domain/action-limits.ts';
import { parseInput } from '../domain/errors.ts';
import { requireAdmin, requireUser, userId } from './auth-middleware.ts';

/**
 * Binds a declared action to a route: its role, then its limits (the same counters as the socket
 * events, so switching transport buys nothing), then `more` (e.g. idempotency), then the action
 * with the path's drop id (and, with `body`, the body's fields) checked by the action's schema.
 */
export interface ActionRouteOptions<R> {
  limits: ActionLimits;
  /** The action's other fields come from the JSON body. */
  body?: boolean;
  more?: RequestHandler[];
  respond: (res: Parameters<RequestHandler>[1], result: R) => void;
}

export function actionRoute<S extends z.ZodType, R>(action: Action<S, R>, options: ActionRouteOptions<R>): RequestHandler[] {
  const limit = action.limit;
  const limited: RequestHandler[] = limit
    ? [
        async (req, _res, next) => {
          await options.limits.consume(limit, userId(req), req.ip);
          next();
        },
      ]
    : [];
  const input = (req: Request): unknown => ({ ...(options.body && typeof req.body === 'object' ? req.body : {}), dropId: req.params.id });
  return [
    action.role === 'ADMIN' ? requireAdmin : requireUser,
    ...limited,
    ...(options.more ?? []),
    async (req, res) => {
      const result = await action.run({ userId: userId(req), ip: req.ip ?? null }, parseInput(action.schema, input(req), 'request'));
      options.respond(res, result);
    },
  ];
}
