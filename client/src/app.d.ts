import type { UserView } from '@dropspot/protocol';

declare global {
  namespace App {
    interface Error {
      message: string;
      code?: string;
    }
    interface Locals {
      user: UserView | null;
    }
  }
}

export {};
