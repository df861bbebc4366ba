import { createHash, createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
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

/** Verified claims with the token's expiry (Unix seconds). */
export interface VerifiedAccessClaims extends AccessClaims {
  exp: number;
}

/** The HMAC key as a KeyObject, made once: jsonwebtoken would otherwise rebuild it on every call. */
export function secretKey(secret: string): KeyObject {
  return createSecretKey(Buffer.from(secret, 'utf8'));
}

/**
 * `issuedAt` (seconds) pins `iat` and so `exp`: the same claims signed with the same issue time
 * give the same token, which lets a refresh retried within its grace period get the very same pair.
 */
export function signAccessToken(secret: string | KeyObject, ttlSeconds: number, claims: AccessClaims, issuedAt?: number): string {
  return jwt.sign({ role: claims.role, sid: claims.sid, ...(issuedAt === undefined ? {} : { iat: issuedAt }) }, secret, {
    algorithm: 'HS256',
    expiresIn: ttlSeconds,
    subject: claims.sub,
    issuer: ISSUER,
    audience: AUDIENCE,
  });
}

/** A key for one purpose derived from a configured secret, so no two uses share a key. */
export function derivedKey(secret: string, purpose: string): KeyObject {
  return createSecretKey(createHmac('sha256', secret).update(purpose).digest());
}

/** Only HS256 with our secret is accepted: `alg: none` and algorithm swaps fail verification. */
export function verifyAccessToken(secret: string | KeyObject, token: string): VerifiedAccessClaims {
  try {
    const payload = jwt.verify(token, secret, { algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE });
    // A token without `exp` would never expire: jsonwebtoken accepts one, we do not.
    if (typeof payload === 'string' || typeof payload.sub !== 'string' || typeof payload.sid !== 'string' || typeof payload.exp !== 'number') {
      throw new DomainError('TOKEN_INVALID', 'The access token is not valid.');
    }
    const role = payload.role === 'ADMIN' ? 'ADMIN' : 'USER';
    return { sub: payload.sub, role, sid: payload.sid, exp: payload.exp };
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

/**
 * The refresh token that rotating `parent` issues: an HMAC of the parent under a server key, so a
 * rotation retried within its grace period can answer with the same token without the server
 * ever storing a refresh token (only hashes). Nobody without the key can compute it.
 */
export function childRefreshToken(key: KeyObject, parent: string): string {
  return createHmac('sha256', key).update(parent).digest('base64url');
}

export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}
