/**
 * The in-process hop from the web client's server side to the API (see
 * server/src/http/internal-hop.ts): the headers that carry the visitor's address, and the global
 * symbol under which the server process keeps the key that vouches for them.
 */
export const INTERNAL_HOP = {
  keyHeader: 'x-dropspot-internal-key',
  addressHeader: 'x-dropspot-client-address',
  keySymbol: Symbol.for('dropspot.internal-key'),
} as const;
