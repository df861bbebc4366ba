import { customAlphabet } from 'nanoid';
import { CODE_ALPHABET, CODE_LENGTH } from '@dropspot/protocol';

// 31 symbols without 0/O, 1/I/L: 12 of them carry ~59 bits from a CSPRNG, so codes cannot be guessed.
const randomCode = customAlphabet(CODE_ALPHABET, CODE_LENGTH);

/** A fresh code shown as XXXX-XXXX-XXXX. */
export function newClaimCode(): string {
  const raw = randomCode();
  return `${raw.slice(0, 4)}-${raw.slice(4, 8)}-${raw.slice(8)}`;
}
