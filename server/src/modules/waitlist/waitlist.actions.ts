import { dropRefSchema, joinPayloadSchema } from '@dropspot/protocol';
import { defineAction } from '../../domain/action.ts';
import type { WaitlistService } from './waitlist.service.ts';

/** Joining and leaving a drop's waitlist, and one's place in it. */
export function waitlistActions(
  waitlist: Pick<WaitlistService, 'leave' | 'position'> & { join(userId: string, dropId: string, altcha?: string): ReturnType<WaitlistService['join']> },
) {
  return {
    // `altcha`: the solved proof-of-work challenge a drop with `requirePow` asks for.
    join: defineAction({ schema: joinPayloadSchema, role: 'USER', limit: 'waitlist', run: (actor, { dropId, altcha }) => waitlist.join(actor.userId, dropId, altcha) }),
    leave: defineAction({ schema: dropRefSchema, role: 'USER', limit: 'waitlist', run: (actor, { dropId }) => waitlist.leave(actor.userId, dropId) }),
    position: defineAction({ schema: dropRefSchema, role: 'USER', run: (actor, { dropId }) => waitlist.position(actor.userId, dropId) }),
  };
}
