/**
 * `<input type="datetime-local">` speaks a wall clock without a zone; the API speaks instants.
 * The drop form says which zone its wall clock is in (the browser's once the page runs, the
 * server's when the form was rendered for a browser without JavaScript), and the form action
 * converts with that zone, so both paths mean the same instant.
 */

/** The wall-clock time of `instant` in `timeZone`, written as if it were UTC (epoch ms). */
function wallClock(instant: number, timeZone: string): number {
  const format = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  const parts = Object.fromEntries(format.formatToParts(instant).map((part) => [part.type, Number(part.value)]));
  return Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
}

export function localTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** An ISO instant as a `datetime-local` value (to the minute) in `timeZone`. */
export function toLocalInput(iso: string, timeZone: string): string {
  return new Date(wallClock(Date.parse(iso), timeZone)).toISOString().slice(0, 16);
}

/**
 * A `datetime-local` value in `timeZone` as an ISO instant. Anything else (an empty or garbled
 * value, an unknown zone) is passed on unchanged, for the API to refuse with a field error.
 */
export function fromLocalInput(value: string, timeZone: string): string {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(value)) return value;
  try {
    const asUtc = Date.parse(`${value}Z`);
    // The zone's offset at the guess, then at the corrected instant (they differ across a DST change).
    const first = asUtc - (wallClock(asUtc, timeZone) - asUtc);
    return new Date(asUtc - (wallClock(first, timeZone) - first)).toISOString();
  } catch {
    return value;
  }
}
