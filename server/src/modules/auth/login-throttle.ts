import { LRUCache } from 'lru-cache';
import { DomainError } from '../../domain/errors.ts';

/** Wrong passwords one client address may try on one account per window, then it waits out the window. */
export const ADDRESS_GUESSES = 5;
const ADDRESS_WINDOW_MS = 15 * 60_000;
/** Wrong passwords on one account, from all addresses together, before attempts are spaced out. */
export const ACCOUNT_FREE_GUESSES = 10;
/** The longest wait between two attempts on one account: a slowdown, never a lockout of its owner. */
export const ACCOUNT_MAX_DELAY_MS = 60_000;
/** An account's count of wrong passwords is forgotten this long after the last one. */
const ACCOUNT_MEMORY_MS = 15 * 60_000;

interface AddressCount {
  failures: number;
  resetAt: number;
}

interface AccountCount {
  failures: number;
  lastAt: number;
}

/** The wait after the `failures`-th wrong password on an account: none at first, then 1 s, 2 s, 4 s, … up to the cap. */
function accountDelay(failures: number): number {
  return failures < ACCOUNT_FREE_GUESSES ? 0 : Math.min(1000 * 2 ** (failures - ACCOUNT_FREE_GUESSES), ACCOUNT_MAX_DELAY_MS);
}

function refused(ms: number, detail: string): DomainError {
  return new DomainError('RATE_LIMITED', detail, { extra: { retryAfter: Math.max(1, Math.ceil(ms / 1000)) } });
}

/**
 * Backoff against password guessing, in process memory. Each attempt is counted as a failure
 * before its password is checked (synchronously, so a parallel burst is counted in full) and
 * given back if the password was right:
 * - per (account, client address): ADDRESS_GUESSES per window, then that address waits;
 * - per account, all addresses together: past ACCOUNT_FREE_GUESSES the attempts are spaced out by
 *   a growing delay capped at ACCOUNT_MAX_DELAY_MS. A short Retry-After, never a long lockout, so
 *   nobody can keep the owner out by failing on purpose; the owner's existing sessions (refresh)
 *   are not touched at all.
 */
export function createLoginThrottle() {
  const addresses = new LRUCache<string, AddressCount>({ max: 200_000, ttl: ADDRESS_WINDOW_MS });
  const accounts = new LRUCache<string, AccountCount>({ max: 200_000, ttl: ACCOUNT_MEMORY_MS });

  /**
   * Counts one attempt, or throws RATE_LIMITED (with retryAfter) without counting it. Tell the
   * outcome: a right password gives the attempt back; a wrong one starts the account's delay
   * from the moment it was answered (the check itself takes a while).
   */
  function reserve(email: string, address: string): { right(): void; wrong(): void } {
    const now = Date.now();
    const addressKey = `${email}\n${address}`;
    let perAddress = addresses.get(addressKey);
    if (!perAddress || perAddress.resetAt <= now) perAddress = { failures: 0, resetAt: now + ADDRESS_WINDOW_MS };
    if (perAddress.failures >= ADDRESS_GUESSES) {
      throw refused(perAddress.resetAt - now, 'Too many wrong passwords for this account from your address; wait before trying again.');
    }
    const account = accounts.get(email) ?? { failures: 0, lastAt: 0 };
    const allowedAt = account.lastAt + accountDelay(account.failures);
    if (now < allowedAt) {
      throw refused(allowedAt - now, 'Many wrong passwords were tried for this account; wait a few seconds before trying again.');
    }
    perAddress.failures += 1;
    addresses.set(addressKey, perAddress, { ttl: perAddress.resetAt - now });
    account.failures += 1;
    account.lastAt = now;
    accounts.set(email, account);
    return {
      right: () => {
        perAddress.failures = Math.max(0, perAddress.failures - 1);
        account.failures = Math.max(0, account.failures - 1);
      },
      wrong: () => {
        account.lastAt = Math.max(account.lastAt, Date.now());
      },
    };
  }

  return { reserve };
}
