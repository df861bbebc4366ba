import type { z } from 'zod';
import type { LimitedAction } from './action-limits.ts';

/** Who runs an action: a signed-in account (checked by the transport) and the address it came from. */
export interface ActionActor {
  userId: string;
  ip: string | null;
}

/**
 * One thing a client can do, declared once and bound by every transport (the HTTP router and the
 * socket namespaces): the same protocol schema checks the input, the same limit counts it, the
 * same `run` does it, so the same bad input gets the same error code whichever way it came.
 */
export interface Action<S extends z.ZodType, R> {
  /** The input: a drop id plus, for some actions, the fields of an HTTP body. */
  schema: S;
  /** USER: any signed-in account; ADMIN: the ADMIN role. */
  role: 'USER' | 'ADMIN';
  /** Counted per account and per address, whichever transport is used. */
  limit?: LimitedAction;
  run(actor: ActionActor, input: z.output<S>): Promise<R>;
}

export const defineAction = <S extends z.ZodType, R>(action: Action<S, R>): Action<S, R> => action;
