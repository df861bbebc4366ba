import type { Logger } from 'pino';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { Socket } from 'socket.io';
import type { Ack } from '@dropspot/protocol';
import type { z } from 'zod';
import { DomainError, toDomainError, zodToDomainError } from '../domain/errors.ts';

export interface SocketLimits {
  /** Events a socket may send per second before it gets RATE_LIMITED acks. */
  eventsPerSecond: number;
  /** Refused events within a minute after which the socket is disconnected as a flood. */
  floodStrikes: number;
}

export function toAckError(error: unknown, logger: Logger): Ack<never> {
  const known = toDomainError(error);
  if (known) {
    const retryAfter = known.extra.retryAfter;
    return {
      ok: false,
      code: known.code,
      message: known.message,
      ...(known.issues ? { issues: known.issues } : {}),
      ...(typeof retryAfter === 'number' ? { retryAfter } : {}),
      ...(Object.keys(known.extra).length > 0 ? { extra: known.extra } : {}),
    };
  }
  logger.error({ err: error }, 'unhandled socket handler error');
  return { ok: false, code: 'INTERNAL', message: 'Something went wrong on our side. It has been logged.' };
}

/**
 * Every socket handler is: rate limit → validate with the protocol's zod schema → domain call →
 * ack. Errors become `{ ok: false, code, message }` with the same codes as HTTP. A client that
 * forgets the ack callback is still served; one that keeps flooding is disconnected.
 */
export function createHandlerFactory(limits: SocketLimits, logger: Logger) {
  const rate = new RateLimiterMemory({ points: limits.eventsPerSecond, duration: 1 });
  const strikes = new RateLimiterMemory({ points: limits.floodStrikes, duration: 60 });

  async function admit(socket: Socket): Promise<void> {
    try {
      await rate.consume(socket.id);
    } catch (refusal) {
      if (!(refusal instanceof RateLimiterRes)) throw refusal;
      try {
        await strikes.consume(socket.id);
      } catch {
        logger.warn({ socket: socket.id }, 'socket flooded events; disconnecting');
        socket.disconnect(true);
      }
      throw new DomainError('RATE_LIMITED', 'Too many events; slow down.', {
        extra: { retryAfter: Math.ceil(refusal.msBeforeNext / 1000) },
      });
    }
  }

  return function handle<S extends z.ZodType, R>(
    socket: Socket,
    schema: S | undefined,
    run: (input: z.output<S>) => Promise<R>,
  ): (...args: unknown[]) => Promise<void> {
    return async (...args: unknown[]) => {
      const last = args[args.length - 1];
      const ack = typeof last === 'function' ? (last as (reply: Ack<R>) => void) : undefined;
      const payload = typeof args[0] === 'function' ? undefined : args[0];
      let reply: Ack<R>;
      try {
        await admit(socket);
        let input: z.output<S> = undefined as z.output<S>;
        if (schema) {
          const parsed = schema.safeParse(payload);
          if (!parsed.success) throw zodToDomainError(parsed.error, 'payload');
          input = parsed.data;
        }
        reply = { ok: true, data: await run(input) };
      } catch (error) {
        reply = toAckError(error, logger);
      }
      ack?.(reply);
    };
  };
}

export type HandlerFactory = ReturnType<typeof createHandlerFactory>;
