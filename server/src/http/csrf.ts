import type { RequestHandler } from 'express';
import { DomainError } from '../domain/errors.ts';
import { REFRESH_COOKIE, cookie } from './auth-middleware.ts';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Cookies ride along on cross-site requests; SameSite stops most of that and this check stops
 * the rest: a state-changing request that carries our cookies must come from an allowed origin.
 * Bearer-token requests are not affected (a browser never attaches those by itself).
 */
export function originCheck(allowedOrigins: readonly string[]): RequestHandler {
  const allowed = new Set(allowedOrigins);
  return (req, _res, next) => {
    if (SAFE_METHODS.has(req.method)) return next();
    const usesCookies = req.auth?.via === 'cookie' || cookie(req, REFRESH_COOKIE) !== undefined;
    if (!usesCookies) return next();
    const origin = req.get('origin');
    if (origin === undefined) return next();
    const self = `${req.protocol}://${req.get('host')}`;
    if (origin === self || allowed.has(origin)) return next();
    next(new DomainError('CSRF_REJECTED', 'Cross-site request refused.'));
  };
}
