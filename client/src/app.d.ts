import type { UserView } from '@dropspot/protocol';
// The <altcha-widget> element's attributes and events in Svelte markup (types only: erased at run time).
import type {} from 'altcha/types/svelte';

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
