import { windowActionPayloadSchema } from '@dropspot/protocol';
import { defineAction } from '../../domain/action.ts';
import type { DropService } from './drop.service.ts';

/** An admin's live control of a drop's claim window. */
export function dropActions(drops: Pick<DropService, 'windowAction'>) {
  return {
    window: defineAction({
      schema: windowActionPayloadSchema,
      role: 'ADMIN',
      run: (actor, { dropId, ...body }) => drops.windowAction(dropId, body, actor),
    }),
  };
}
