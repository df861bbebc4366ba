import { LINE_MODES } from '@dropspot/protocol';
import { clock, db } from '../../db/kysely.ts';
import type { Orm } from '../../db/orm.ts';

// When the lines need work, read without locks for the timers (each drop room's line clock): they
// only call the reservation service's `tick`, which judges again under the drop's row lock.

/** When the line of a drop next needs work: the earliest open hold, the opening of a drop not frozen yet, or null. */
export async function nextLineInstant(orm: Orm, dropId: string): Promise<Date | null> {
  const row = await db(orm.em.fork())
    .selectFrom('drop as d')
    .select((eb) =>
      eb
        .case()
        .when(eb.or([eb('d.allocationMode', 'not in', LINE_MODES), eb.not(eb.ref('d.isActive'))]))
        .then(null)
        .when('d.rankingFrozenAt', 'is', null)
        .then(eb.case().when('d.claimWindowEnd', '>', clock).then(eb.ref('d.claimWindowStart')).end())
        .when(eb.or([eb('d.pausedAt', 'is not', null), eb('d.claimWindowEnd', '<=', clock)]))
        .then(null)
        // A window moved later: its stopped holds run again (and the line moves) when it opens.
        .when('d.claimWindowStart', '>', clock)
        .then(eb.ref('d.claimWindowStart'))
        .else(
          eb
            .selectFrom('reservation as r')
            .select((r) => r.fn.min('r.expiresAt').as('at'))
            .whereRef('r.drop', '=', 'd.id')
            .where('r.status', '=', 'GRANTED')
            .where('r.suspendedAt', 'is', null),
        )
        .end()
        // Computed, not a column: the instant arrives as text.
        .$castTo<string | null>()
        .as('nextAt'),
    )
    .where('d.id', '=', dropId)
    .executeTakeFirst();
  return row?.nextAt ? new Date(row.nextAt) : null;
}

/** Drops whose line has pending work or will have: read at startup and on rebuilds. */
export async function pendingLineDrops(orm: Orm): Promise<string[]> {
  const rows = await db(orm.em.fork())
    .selectFrom('drop as d')
    .select('d.id')
    .where((eb) =>
      eb.and([
        eb('d.allocationMode', 'in', LINE_MODES),
        eb.ref('d.isActive'),
        eb.or([
          eb.and([eb('d.rankingFrozenAt', 'is', null), eb('d.claimWindowEnd', '>', clock)]),
          eb.exists(eb.selectFrom('reservation as r').select('r.id').whereRef('r.drop', '=', 'd.id').where('r.status', '=', 'GRANTED')),
        ]),
      ]),
    )
    .execute();
  return rows.map((r) => r.id);
}
