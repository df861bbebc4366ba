import type { Logger } from 'pino';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { Socket } from 'socket.io';
import type { Ack } from '@dropspot/protocol';
import type { z } from 'zod';
import { DomainError } from '../http/domain-error.ts';
import { toDomainError, zodToDomainError } from '../http/problem.ts';
import { refuseIllFormed } from '../http/validate.ts';
import type { SocketIdentity } from './connection-limits.ts';

export interface SocketLimits {
  /** Events all the sockets of one account may send per second before they get RATE_LIMITED acks. */
  eventsPerSecond: number;
  /** The same for all the visitors' sockets of one address. */
  eventsPerIpPerSecond: number;
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
 * Every socket handler is: rate limit → refuse ill-formed Unicode → validate with the protocol's
 * zod schema → domain call → ack. Errors become `{ ok: false, code, message }` with the same codes as
 * HTTP. A client that forgets the ack callback is still served; one that keeps flooding is disconnected.
 *
 * The event budget belongs to the account (a visitor's to the address), not to the socket:
 * opening more sockets buys no more events.
 */
export function createHandlerFactory(limits: SocketLimits, logger: Logger, identify: (socket: Socket) => SocketIdentity) {
  const perUser = new RateLimiterMemory({ keyPrefix: 'socket-user', points: limits.eventsPerSecond, duration: 1 });
  const perIp = new RateLimiterMemory({ keyPrefix: 'socket-ip', points: limits.eventsPerIpPerSecond, duration: 1 });
  const strikes = new RateLimiterMemory({ points: limits.floodStrikes, duration: 60 });

  async function admit(socket: Socket): Promise<void> {
    try {
      const { userId, address } = identify(socket);
      await (userId ? perUser.consume(userId) : perIp.consume(address));
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
        refuseIllFormed(payload, 'payload');
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
