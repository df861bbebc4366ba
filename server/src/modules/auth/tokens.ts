import { createHash, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { Role } from '@dropspot/protocol';
import { DomainError } from '../../domain/errors.ts';

const ISSUER = 'dropspot';
const AUDIENCE = 'dropspot-api';

export interface AccessClaims {
  sub: string;
  role: Role;
  sid: string;
}

/** The HMAC key as a KeyObject, made once: jsonwebtoken would otherwise rebuild it on every call. */
export function secretKey(secret: string): KeyObject {
  return createSecretKey(Buffer.from(secret, 'utf8'));
}

export function signAccessToken(secret: string | KeyObject, ttlSeconds: number, claims: AccessClaims): string {
  return jwt.sign({ role: claims.role, sid: claims.sid }, secret, {
    algorithm: 'HS256',
    expiresIn: ttlSeconds,
    subject: claims.sub,
    issuer: ISSUER,
    audience: AUDIENCE,
  });
}

/** Only HS256 with our secret is accepted: `alg: none` and algorithm swaps fail verification. */
export function verifyAccessToken(secret: string | KeyObject, token: string): AccessClaims {
  try {
    const payload = jwt.verify(token, secret, { algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE });
    if (typeof payload === 'string' || typeof payload.sub !== 'string' || typeof payload.sid !== 'string') {
      throw new DomainError('TOKEN_INVALID', 'The access token is not valid.');
    }
    const role = payload.role === 'ADMIN' ? 'ADMIN' : 'USER';
    return { sub: payload.sub, role, sid: payload.sid };
  } catch (error) {
    if (error instanceof DomainError) throw error;
    if (error instanceof jwt.TokenExpiredError) {
      throw new DomainError('TOKEN_EXPIRED', 'The access token has expired; refresh it.');
    }
    throw new DomainError('TOKEN_INVALID', 'The access token is not valid.');
  }
}

/** Refresh tokens are opaque random strings; only their sha256 is stored. */
export function newRefreshToken(): string {
  return randomBytes(32).toString('base64url');
}

export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}
