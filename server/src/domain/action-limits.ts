import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { Config } from '../config.ts';
import { DomainError } from './errors.ts';

export type LimitedAction = 'claim' | 'waitlist';

/**
 * Limits on joining, leaving and claiming, shared by HTTP and the sockets so that switching
 * transport (or opening more tabs and sockets) buys nothing: per account, and per IP address
 * across accounts (a farm of accounts behind one address). The per-IP limit is set high because
 * many real people share an address (mobile carriers, venues). Counted in process memory.
 */
export function createActionLimits(limits: Config['rateLimits']) {
  const perUser: Record<LimitedAction, RateLimiterMemory> = {
    claim: new RateLimiterMemory({ keyPrefix: 'claim-user', points: limits.claimPerMinute, duration: 60 }),
    waitlist: new RateLimiterMemory({ keyPrefix: 'waitlist-user', points: limits.waitlistPerMinute, duration: 60 }),
  };
  const perIp = new RateLimiterMemory({ keyPrefix: 'actions-ip', points: limits.actionsPerIpPerMinute, duration: 60 });

  /** Counts one request; throws RATE_LIMITED (with retryAfter seconds) past either limit. */
  async function consume(action: LimitedAction, userId: string, ip: string | undefined): Promise<void> {
    try {
      await perUser[action].consume(userId);
      await perIp.consume(ip ?? 'unknown');
    } catch (refusal) {
      if (!(refusal instanceof RateLimiterRes)) throw refusal;
      throw new DomainError('RATE_LIMITED', 'Too many requests; slow down.', {
        extra: { retryAfter: Math.max(1, Math.ceil(refusal.msBeforeNext / 1000)) },
      });
    }
  }

  return { consume };
}

export type ActionLimits = ReturnType<typeof createActionLimits>;
