import type { Role } from '@dropspot/protocol';
import type { DomainError } from './domain/errors.ts';

export interface AuthContext {
  userId: string;
  role: Role;
  sessionId: string;
  /** Where the credentials came from: cookies need CSRF protection, bearer tokens do not. */
  via: 'bearer' | 'cookie';
}

declare global {
  namespace Express {
    interface Request {
      auth?: AuthContext;
      /** Why credentials that were sent did not authenticate; routes that need a user report it. */
      authError?: DomainError;
    }
  }
}
