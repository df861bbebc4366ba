import type { EndedSession } from '../modules/auth/auth.service.ts';

/** What the domain tells the outside after a commit; the realtime layer listens. */
export interface DomainSignals {
  /** A commit wrote outbox events: publish them now rather than at the next poll. */
  committed(): void;
  sessionsEnded(ended: EndedSession[]): void;
  accountDeleted(userId: string): void;
}

/**
 * The services are built before the transports that listen to them, so they signal through this
 * hub: whoever subscribes hears every signal from then on (nobody listening is fine).
 */
export function createSignalHub() {
  const listeners: DomainSignals[] = [];
  const hub: DomainSignals & { subscribe: (listener: DomainSignals) => void } = {
    committed: () => listeners.forEach((l) => l.committed()),
    sessionsEnded: (ended) => listeners.forEach((l) => l.sessionsEnded(ended)),
    accountDeleted: (userId) => listeners.forEach((l) => l.accountDeleted(userId)),
    subscribe: (listener) => void listeners.push(listener),
  };
  return hub;
}

export type SignalHub = ReturnType<typeof createSignalHub>;
