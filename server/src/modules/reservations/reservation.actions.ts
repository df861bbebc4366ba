import { dropRefSchema, extendHoldsPayloadSchema } from '@dropspot/protocol';
import { defineAction } from '../../domain/action.ts';
import type { ReservationService } from './reservation.service.ts';

/** An admin's view of a PRIORITY drop's line, and extending every open hold at once. */
export function reservationActions(reservations: Pick<ReservationService, 'adminView' | 'extendHolds'>) {
  return {
    list: defineAction({ schema: dropRefSchema, role: 'ADMIN', run: (_actor, { dropId }) => reservations.adminView(dropId) }),
    extendHolds: defineAction({
      schema: extendHoldsPayloadSchema,
      role: 'ADMIN',
      run: (actor, { dropId, seconds }) => reservations.extendHolds(dropId, seconds, actor),
    }),
  };
}
