import { dropRefSchema } from '@dropspot/protocol';
import { defineAction } from '../../domain/action.ts';
import type { WaitlistService } from './waitlist.service.ts';

/** Joining and leaving a drop's waitlist, and one's place in it. */
export function waitlistActions(waitlist: Pick<WaitlistService, 'join' | 'leave' | 'position'>) {
  return {
    join: defineAction({ schema: dropRefSchema, role: 'USER', limit: 'waitlist', run: (actor, { dropId }) => waitlist.join(actor.userId, dropId) }),
    leave: defineAction({ schema: dropRefSchema, role: 'USER', limit: 'waitlist', run: (actor, { dropId }) => waitlist.leave(actor.userId, dropId) }),
    position: defineAction({ schema: dropRefSchema, role: 'USER', run: (actor, { dropId }) => waitlist.position(actor.userId, dropId) }),
  };
}
