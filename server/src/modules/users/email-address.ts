import { domainToASCII } from 'node:url';
import MailChecker from 'mailchecker';
import { DomainError } from '../../domain/errors.ts';

/**
 * Providers that deliver `first.last@` and `firstlast@` to the same mailbox. Kept short on
 * purpose: only providers documented to ignore dots, mapped to one domain where they are aliases.
 */
const DOTLESS_PROVIDERS: Record<string, string> = {
  'gmail.com': 'gmail.com',
  'googlemail.com': 'gmail.com',
};

/**
 * The one form of an address that every alias of the same mailbox shares: lower case, domain in
 * ASCII (IDN → punycode), `+tag` removed, dots removed where the provider ignores them. It is
 * unique per account, so `Jane.Doe+drops@gmail.com` cannot open a second account beside
 * `janedoe@googlemail.com`. Returns undefined for a domain that has no ASCII form.
 */
export function canonicalEmail(email: string): string | undefined {
  const at = email.lastIndexOf('@');
  const ascii = domainToASCII(email.slice(at + 1).toLowerCase());
  if (at < 1 || !ascii) return undefined;
  let local = email.slice(0, at).toLowerCase().split('+')[0]!;
  const provider = DOTLESS_PROVIDERS[ascii];
  if (provider) local = local.replaceAll('.', '');
  if (!local) return undefined;
  return `${local}@${provider ?? ascii}`;
}

const disposableDomains = MailChecker.blacklist();

/** Whether the domain, or a domain above it, is a known throw-away mailbox (`mailchecker`'s list). */
function isDisposable(asciiDomain: string): boolean {
  const labels = asciiDomain.split('.');
  return labels.some((_, i) => disposableDomains.has(labels.slice(i).join('.')));
}

/**
 * The checks an address passes before an account may use it (signup, change of email): it has a
 * canonical form, and (unless BLOCK_DISPOSABLE_EMAIL is off) it is not a disposable mailbox.
 * Returns the canonical form.
 */
export function acceptableEmail(email: string, options: { blockDisposable: boolean }): string {
  const canonical = canonicalEmail(email);
  if (!canonical) {
    throw new DomainError('VALIDATION_FAILED', 'The email address is not valid.', {
      issues: [{ path: 'email', message: 'not a valid email address', code: 'invalid_format' }],
    });
  }
  if (options.blockDisposable && isDisposable(canonical.slice(canonical.indexOf('@') + 1))) {
    throw new DomainError('EMAIL_DISPOSABLE', 'Addresses from throw-away mailbox services cannot be used; use your own address.', {
      issues: [{ path: 'email', message: 'disposable address', code: 'disposable' }],
    });
  }
  return canonical;
}
