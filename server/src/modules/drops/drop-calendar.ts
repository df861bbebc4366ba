import { createEvent } from 'ics';
import { ALLOCATION_MODE_TEXT, openingShuffleText, type AllocationMode } from '@dropspot/protocol';
import type { Orm } from '../../db/orm.ts';
import { DomainError } from '../../domain/errors.ts';
import { DropSchema, type Drop } from './drop.entity.ts';

export interface CalendarFile {
  /** A name made of [a-z0-9-] only, safe in a Content-Disposition header on every platform. */
  filename: string;
  body: string;
}

/** `dropspot-<title as a slug>.ics`: ASCII letters and digits only, so no header injection or odd path. */
export function calendarFilename(title: string): string {
  const slug = title
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60)
    .replace(/-+$/, '');
  return `dropspot-${slug || 'drop'}.ics`;
}

/**
 * One VEVENT for a drop's claim window (RFC 5545, built by the `ics` package). The UID is the
 * drop's id at this deployment's host, so re-importing updates the same event; SEQUENCE is the
 * number of times the window moved (`drop.window_sequence`), so a calendar replaces an older
 * copy; both instants are written in UTC and each calendar shows them in its own time zone.
 */
export function calendarEvent(drop: Drop, baseUrl: string): CalendarFile {
  const url = `${baseUrl.replace(/\/+$/, '')}/drops/${drop.id}`;
  const allocation: AllocationMode = drop.allocationMode;
  const mode = allocation === 'FCFS' && drop.openingShuffleSeconds ? openingShuffleText(drop.openingShuffleSeconds) : ALLOCATION_MODE_TEXT[allocation];
  const slots = `${drop.totalSlots.toLocaleString('en')} slot${drop.totalSlots === 1 ? '' : 's'}`;
  const description = [`The claim window of "${drop.title}" on DropSpot: ${slots}.`, `${mode.label}. ${mode.explanation}`, drop.description.trim(), url]
    .filter((part) => part !== '')
    .join('\n\n');
  const { error, value } = createEvent({
    productId: 'dropspot/calendar',
    method: 'PUBLISH',
    uid: `drop-${drop.id}@${new URL(baseUrl).hostname}`,
    sequence: drop.windowSequence,
    start: drop.claimWindowStart.getTime(),
    startInputType: 'utc',
    startOutputType: 'utc',
    end: drop.claimWindowEnd.getTime(),
    endInputType: 'utc',
    endOutputType: 'utc',
    title: `${drop.title}: claim window`,
    description,
    url,
    status: 'CONFIRMED',
    busyStatus: 'FREE',
    lastModified: drop.updatedAt.getTime(),
  });
  if (error || !value) throw new DomainError('INTERNAL', 'The calendar file could not be made.', { cause: error ?? undefined });
  return { filename: calendarFilename(drop.title), body: value };
}

/** A published drop's calendar file; a draft or an unknown id is DROP_NOT_FOUND, like every public read. */
export async function dropCalendar(orm: Orm, baseUrl: string, dropId: string): Promise<CalendarFile> {
  const drop = await orm.em.fork().findOne(DropSchema, { id: dropId, isActive: true });
  if (!drop) throw new DomainError('DROP_NOT_FOUND', 'No drop with this id.');
  return calendarEvent(drop, baseUrl);
}
