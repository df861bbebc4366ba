/**
 * `@dropspot/protocol/api`: the API's responses and socket events as zod schemas, for the
 * generated OpenAPI and AsyncAPI documents. Kept out of the main entry so the web client's bundle
 * does not carry them.
 */
export * from './responses.ts';
export * from './socket-events.ts';
