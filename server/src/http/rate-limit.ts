import type { Request, RequestHandler } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import { DomainError } from '../domain/errors.ts';
import { sendProblem } from './problem.ts';

/**
 * A fixed-window limit answered with 429 problem+json and Retry-After. Signed-in routes count
 * per user (many people can share one IP); others count per IP (IPv6 grouped by /56).
 */
export function limit(options: { name: string; perMinute: number; by: 'ip' | 'user' }): RequestHandler {
  return rateLimit({
    windowMs: 60_000,
    limit: options.perMinute,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    identifier: options.name,
    keyGenerator: (req: Request) =>
      options.by === 'user' && req.auth ? `user:${req.auth.userId}` : `ip:${ipKeyGenerator(req.ip ?? 'unknown')}`,
    handler: (req, res, _next, used) => {
      const resetTime = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
      const retryAfter = Math.max(1, Math.ceil(((resetTime?.getTime() ?? Date.now() + used.windowMs) - Date.now()) / 1000));
      sendProblem(res, new DomainError('RATE_LIMITED', 'Too many requests; slow down.', { extra: { retryAfter } }));
    },
  });
}
