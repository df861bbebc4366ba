import type { UserView } from '@dropspot/protocol';

declare global {
  namespace App {
    interface Error {
      message: string;
      code?: string;
    }
    interface Locals {
      user: UserView | null;
      /** Epoch ms when the visitor's access token expires (read from its claims, already verified by the API). */
      accessExpiresAt: number | null;
    }
  }
}

export {};
