export * from './errors.ts';
export * from './schemas.ts';
export type * from './types.ts';
export * from './events.ts';
export * from './internal-hop.ts';
export * from './stream.ts';
export * from './ai.ts';
export * from './webhooks.ts';
export * from './notifications.ts';
