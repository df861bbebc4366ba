import type { Request, RequestHandler } from 'express';
import type { AuthService } from '../modules/auth/auth.service.ts';
import { DomainError } from '../domain/errors.ts';

export const ACCESS_COOKIE = 'ds_access';
export const REFRESH_COOKIE = 'ds_refresh';

/** A cookie's value when it is a string (cookie-parser turns `j:...` values into JSON objects). */
export function cookie(req: Request, name: string): string | undefined {
  const value: unknown = req.cookies?.[name];
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function bearerToken(req: Request): string | undefined {
  const header = req.get('authorization');
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (!match?.[1]) throw new DomainError('TOKEN_INVALID', 'The Authorization header must be "Bearer <token>".');
  return match[1];
}

/**
 * Reads credentials when present (a bearer token wins over the cookie) and sets `req.auth`.
 * Bad credentials leave the request anonymous, so public pages and login still work with a
 * stale cookie; routes that need a user answer with the reason (TOKEN_EXPIRED, ...), which
 * tells the client to refresh.
 */
export function authenticate(auth: AuthService): RequestHandler {
  return async (req, _res, next) => {
    try {
      const bearer = bearerToken(req);
      const token = bearer ?? cookie(req, ACCESS_COOKIE);
      if (token) req.auth = await auth.authenticate(token, bearer ? 'bearer' : 'cookie');
    } catch (error) {
      if (!(error instanceof DomainError) || error.status !== 401) throw error;
      req.authError = error;
    }
    next();
  };
}

function signedIn(req: Request): NonNullable<Request['auth']> {
  if (!req.auth) throw req.authError ?? new DomainError('UNAUTHENTICATED', 'Sign in first.');
  return req.auth;
}

export const requireUser: RequestHandler = (req, _res, next) => {
  signedIn(req);
  next();
};

export const requireAdmin: RequestHandler = (req, _res, next) => {
  if (signedIn(req).role !== 'ADMIN') throw new DomainError('FORBIDDEN', 'This needs an admin account.');
  next();
};

/** The signed-in user's id; only call behind `requireUser` or `requireAdmin`. */
export function userId(req: Request): string {
  return signedIn(req).userId;
}
