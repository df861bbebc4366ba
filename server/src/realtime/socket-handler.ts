import type { Logger } from 'pino';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { Ack, AckFn } from '@dropspot/protocol';
import type { z } from 'zod';
import { DomainError, parseInput, toDomainError } from '../domain/errors.ts';
import { refuseIllFormed } from '../http/validate.ts';
import type { SocketIdentity } from './connection-limits.ts';
import type { IoSocket, ListenEvents, RealtimeLimits } from './types.ts';

type Args<Ev extends keyof ListenEvents> = Parameters<ListenEvents[Ev]>;
/** The payload an event carries before its ack (`undefined` for events that only take an ack). */
export type PayloadOf<Ev extends keyof ListenEvents> = Args<Ev>[0] extends AckFn<never> | undefined ? undefined : Args<Ev>[0];
/** What an event's ack answers with on success. */
export type ReplyOf<Ev extends keyof ListenEvents> = Extract<NonNullable<Args<Ev>[number]>, AckFn<never>> extends AckFn<infer R> ? R : never;

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
 * zod schema → domain call → ack. Errors become `{ ok: false, code, message }` with the same codes
 * as HTTP. A client that forgets the ack callback is still served; one that keeps flooding is
 * disconnected.
 *
 * The event budget belongs to the account (a visitor's to the address), not to the socket:
 * opening more sockets buys no more events.
 */
export function createHandlerFactory(
  limits: Pick<RealtimeLimits, 'eventsPerSecond' | 'eventsPerIpPerSecond' | 'floodStrikes'>,
  logger: Logger,
  identify: (socket: IoSocket) => SocketIdentity,
) {
  const perUser = new RateLimiterMemory({ keyPrefix: 'socket-user', points: limits.eventsPerSecond, duration: 1 });
  const perIp = new RateLimiterMemory({ keyPrefix: 'socket-ip', points: limits.eventsPerIpPerSecond, duration: 1 });
  const strikes = new RateLimiterMemory({ points: limits.floodStrikes, duration: 60 });

  /** The account's (a visitor address's) event budget: every event of every namespace passes here first. */
  async function admit(socket: IoSocket): Promise<void> {
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

  /**
   * The listener for `event`: `schema` checks its payload (none for ack-only events) and `run`
   * answers with exactly what the event's ack carries.
   */
  return function handle<Ev extends keyof ListenEvents>(
    socket: IoSocket,
    _event: Ev,
    schema: z.ZodType<PayloadOf<Ev>> | undefined,
    run: (input: PayloadOf<Ev>) => Promise<ReplyOf<Ev>>,
  ): (...args: unknown[]) => Promise<void> {
    return async (...args: unknown[]) => {
      const last = args.at(-1);
      const ack = typeof last === 'function' ? (reply: Ack<ReplyOf<Ev>>) => void last(reply) : undefined;
      let reply: Ack<ReplyOf<Ev>>;
      try {
        await admit(socket);
        // An ack-only event has no payload: whatever a client sends before the ack is ignored.
        const payload = typeof args[0] === 'function' ? undefined : args[0];
        refuseIllFormed(payload, 'payload');
        const input = schema ? parseInput(schema, payload, 'payload') : undefined;
        reply = { ok: true, data: await run(input as PayloadOf<Ev>) };
      } catch (error) {
        reply = toAckError(error, logger);
      }
      ack?.(reply);
    };
  };
}

export type Handle = ReturnType<typeof createHandlerFactory>;
