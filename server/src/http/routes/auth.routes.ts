import { z } from 'zod';
import type { CookieOptions, Response } from 'express';
import { ipKeyGenerator } from 'express-rate-limit';
import { changePasswordBodySchema, loginBodySchema, refreshBodySchema, signupBodySchema, type AuthResponse, type SignupRequirements } from '@dropspot/protocol';
import { authResponseSchema, signupRequirementsSchema, userViewSchema } from '@dropspot/protocol/api';
import type { Config } from '../../config.ts';
import { ACCESS_COOKIE, REFRESH_COOKIE, cookie, userId } from '../auth-middleware.ts';
import { apiRouter, type ApiRouter } from '../api-router.ts';
import { DomainError } from '../../domain/errors.ts';
import { limit } from '../rate-limit.ts';
import { parseBody } from '../validate.ts';
import type { AuthService } from '../../modules/auth/auth.service.ts';
import type { EmailVerificationService } from '../../modules/auth/email-verification.service.ts';
import type { PowService } from '../../modules/pow/pow.service.ts';
import { acceptableEmail } from '../../modules/users/email-address.ts';

export function authRoutes(deps: { auth: AuthService; config: Readonly<Config>; verification: Pick<EmailVerificationService, 'firstLink'>; pow: Pick<PowService, 'redeem'> }): ApiRouter {
  const { auth, config } = deps;
  const api = apiRouter();
  const tag = 'Auth';
  const secure = config.env === 'production';
  const accessCookie: CookieOptions = { httpOnly: true, sameSite: 'lax', secure, path: '/' };
  // The refresh cookie only travels to the auth routes and never cross-site.
  const refreshCookie: CookieOptions = { httpOnly: true, sameSite: 'strict', secure, path: '/api/auth' };
  const authLimit = limit({ name: 'auth', perMinute: config.rateLimits.authPerMinute, by: 'ip' });

  function sendSession(res: Response, status: number, session: AuthResponse) {
    res.cookie(ACCESS_COOKIE, session.accessToken, { ...accessCookie, maxAge: config.accessTokenTtlSeconds * 1000 });
    res.cookie(REFRESH_COOKIE, session.refreshToken, { ...refreshCookie, maxAge: config.refreshTokenTtlSeconds * 1000 });
    res.status(status).json(session);
  }

  api.get('/signup', { tag, access: 'public', summary: 'What signup needs besides an address and a password', responses: { 200: signupRequirementsSchema } }, (_req, res) => {
    res.json({ requirePow: config.requirePowSignup } satisfies SignupRequirements);
  });

  const signupDoc = {
    tag,
    access: 'public',
    summary: 'Create an account (role USER) and sign in',
    description: 'Mails a verification link. With REQUIRE_POW_SIGNUP the body needs a solved `altcha`. Sets the ds_access and ds_refresh cookies.',
    body: signupBodySchema,
    responses: { 201: authResponseSchema },
    errors: ['EMAIL_TAKEN', 'EMAIL_DISPOSABLE', 'POW_REQUIRED', 'POW_INVALID', 'POW_REPLAYED'],
    limited: true,
  } as const;
  api.post('/signup', signupDoc, authLimit, async (req, res) => {
    const body = parseBody(signupBodySchema, req.body);
    const emailCanonical = acceptableEmail(body.email, { blockDisposable: config.blockDisposableEmail });
    // After the cheap checks, so a typo in the address does not cost the person their solution.
    if (config.requirePowSignup) await deps.pow.redeem(body.altcha);
    // The account, its session, its first verification link and that link's mail, in one statement.
    sendSession(res, 201, await auth.signup({ ...body, emailCanonical }, req.get('user-agent'), deps.verification.firstLink));
  });

  const loginDoc = { tag, access: 'public', summary: 'Sign in', body: loginBodySchema, responses: { 200: authResponseSchema }, errors: ['INVALID_CREDENTIALS'], limited: true } as const;
  api.post('/login', loginDoc, authLimit, async (req, res) => {
    const client = { userAgent: req.get('user-agent'), address: ipKeyGenerator(req.ip ?? 'unknown') };
    sendSession(res, 200, await auth.login(parseBody(loginBodySchema, req.body), client));
  });

  const refreshDoc = {
    tag,
    access: 'public',
    summary: 'Rotate the refresh token for a new pair',
    description: 'The token from the body or the ds_refresh cookie. A reused token revokes its whole family.',
    body: refreshBodySchema,
    responses: { 200: authResponseSchema },
    errors: ['REFRESH_TOKEN_INVALID', 'REFRESH_TOKEN_REUSED', 'SESSION_REVOKED'],
    limited: true,
  } as const;
  api.post('/refresh', refreshDoc, authLimit, async (req, res) => {
    const body = parseBody(refreshBodySchema, req.body);
    const token = body.refreshToken ?? cookie(req, REFRESH_COOKIE);
    if (!token) throw new DomainError('REFRESH_TOKEN_INVALID', 'No refresh token was sent.');
    try {
      sendSession(res, 200, await auth.refresh(token, req.get('user-agent')));
    } catch (error) {
      // Only a refused token ends the browser's sign-in; after a failure on our side (the
      // database away) the same cookie must still work once we are back.
      if (error instanceof DomainError && error.status === 401) {
        res.clearCookie(ACCESS_COOKIE, accessCookie).clearCookie(REFRESH_COOKIE, refreshCookie);
      }
      throw error;
    }
  });

  api.post('/logout', { tag, access: 'public', summary: 'Sign out: revokes the session and clears the cookies', body: refreshBodySchema, responses: { 204: null } }, async (req, res) => {
    const body = parseBody(refreshBodySchema, req.body);
    await auth.logout({
      sessionId: req.auth?.sessionId,
      refreshToken: body.refreshToken ?? cookie(req, REFRESH_COOKIE),
    });
    res.clearCookie(ACCESS_COOKIE, accessCookie).clearCookie(REFRESH_COOKIE, refreshCookie);
    res.status(204).end();
  });

  const passwordDoc = {
    tag,
    access: 'user',
    summary: 'Change your password (signs out your other sessions)',
    body: changePasswordBodySchema,
    responses: { 204: null },
    errors: ['INVALID_CREDENTIALS'],
    limited: true,
  } as const;
  api.post('/password', passwordDoc, authLimit, async (req, res) => {
    await auth.changePassword(req.auth!, parseBody(changePasswordBodySchema, req.body));
    res.status(204).end();
  });

  api.get('/me', { tag, access: 'user', summary: 'Who you are', responses: { 200: z.object({ user: userViewSchema }) } }, async (req, res) => {
    res.json({ user: await auth.me(userId(req)) });
  });

  return api;
}
