import ICAL from 'ical.js';
import { describe, expect, it } from 'vitest';
import { createDrop, createUser, useTestApp } from './support/app.ts';

const { app, api } = useTestApp({ PUBLIC_URL: 'https://drops.example.test' });

async function calendar(dropId: string) {
  const res = await fetch(`${app.baseUrl}/api/drops/${dropId}/calendar.ics`);
  return { res, text: await res.text() };
}

/** The file read back by an independent parser (ical.js), not by the package that wrote it. */
function event(text: string) {
  const root = new ICAL.Component(ICAL.parse(text));
  const vevents = root.getAllSubcomponents('vevent');
  expect(vevents).toHaveLength(1);
  const vevent = vevents[0]!;
  const utc = (name: string) => {
    const time = vevent.getFirstPropertyValue(name) as ICAL.Time;
    // Written in UTC (…Z), not as a floating local time.
    expect(time.zone?.tzid, `${name} is UTC`).toBe('UTC');
    return time.toJSDate().toISOString();
  };
  return {
    version: root.getFirstPropertyValue('version'),
    uid: vevent.getFirstPropertyValue('uid'),
    sequence: vevent.getFirstPropertyValue('sequence'),
    start: utc('dtstart'),
    end: utc('dtend'),
    summary: vevent.getFirstPropertyValue('summary'),
    description: String(vevent.getFirstPropertyValue('description')),
    url: vevent.getFirstPropertyValue('url'),
  };
}

/** Whole seconds: an iCalendar instant has no milliseconds. */
const seconds = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);

describe('GET /api/drops/:id/calendar.ics', () => {
  it("is the drop's window as one event: UTC instants, a stable UID, the drop's URL, a summary and description, as a download", async () => {
    const drop = await createDrop(app, { title: 'Trail Jacket: "restock" / night', totalSlots: 25, startInMs: 3_600_000, endInMs: 7_200_000 });
    const start = seconds(Date.now() + 3 * 3_600_000);
    const end = seconds(start.getTime() + 5_400_000);
    await app.orm.em.fork().execute('update "drop" set claim_window_start = ?, claim_window_end = ?, description = ? where id = ?', [start, end, 'Two colours, all sizes.', drop.id]);

    const { res, text } = await calendar(drop.id);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/calendar; charset=utf-8');
    // Quotes, slashes and spaces of the title never reach the header: letters, digits and dashes only.
    expect(res.headers.get('content-disposition')).toBe('attachment; filename=dropspot-trail-jacket-restock-night.ics');

    const parsed = event(text);
    expect(parsed).toMatchObject({
      version: '2.0',
      uid: `drop-${drop.id}@drops.example.test`,
      sequence: 1, // the window was moved once (the update above)
      start: start.toISOString(),
      end: end.toISOString(),
      summary: 'Trail Jacket: "restock" / night: claim window',
      url: `https://drops.example.test/drops/${drop.id}`,
    });
    expect(parsed.description).toContain('25 slots');
    expect(parsed.description).toContain('First come, first served');
    expect(parsed.description).toContain('Two colours, all sizes.');
  });

  it('bumps SEQUENCE each time the window moves (edit, open-now, extend) and keeps the UID; a pause does not move it', async () => {
    const admin = await createUser(app, 'ADMIN');
    const drop = await createDrop(app, { startInMs: 3_600_000, endInMs: 7_200_000 });
    const first = event((await calendar(drop.id)).text);
    expect(first.sequence).toBe(0);

    const later = seconds(Date.now() + 90 * 60_000);
    const moved = await api('PATCH', `/api/admin/drops/${drop.id}`, { token: admin.token, body: { claimWindowStart: later.toISOString() } });
    expect(moved.status).toBe(200);
    const second = event((await calendar(drop.id)).text);
    expect(second).toMatchObject({ uid: first.uid, sequence: 1, start: later.toISOString(), end: first.end });

    // An edit that leaves the window alone does not bump it.
    expect((await api('PATCH', `/api/admin/drops/${drop.id}`, { token: admin.token, body: { title: 'Renamed' } })).status).toBe(200);
    expect(event((await calendar(drop.id)).text)).toMatchObject({ sequence: 1, summary: 'Renamed: claim window' });

    expect((await api('POST', `/api/admin/drops/${drop.id}/window`, { token: admin.token, body: { action: 'open-now' } })).status).toBe(200);
    const opened = event((await calendar(drop.id)).text);
    expect(opened.sequence).toBe(2);
    expect(Date.parse(opened.start)).toBeLessThanOrEqual(Date.now());

    expect((await api('POST', `/api/admin/drops/${drop.id}/window`, { token: admin.token, body: { action: 'pause' } })).status).toBe(200);
    expect(event((await calendar(drop.id)).text).sequence).toBe(2);
    expect((await api('POST', `/api/admin/drops/${drop.id}/window`, { token: admin.token, body: { action: 'extend', seconds: 600 } })).status).toBe(200);
    const extended = event((await calendar(drop.id)).text);
    expect(extended).toMatchObject({ uid: first.uid, sequence: 3 });
    expect(Date.parse(extended.end) - Date.parse(opened.end)).toBe(600_000);
  });

  it('answers 404 for a draft like every public read, 404 for an unknown drop and 400 for a malformed id', async () => {
    const draft = await createDrop(app, { isActive: false });
    const hidden = await calendar(draft.id);
    expect(hidden.res.status).toBe(404);
    expect(hidden.res.headers.get('content-type')).toContain('application/problem+json');
    expect(JSON.parse(hidden.text).code).toBe('DROP_NOT_FOUND');
    expect(hidden.text).not.toContain(draft.title);

    expect((await calendar(crypto.randomUUID())).res.status).toBe(404);
    const malformed = await calendar('not-a-uuid');
    expect(malformed.res.status).toBe(400);
    expect(JSON.parse(malformed.text).code).toBe('VALIDATION_FAILED');
  });

  it('names the file from a title of symbols alone with a safe fallback', async () => {
    const drop = await createDrop(app, { title: '«🎟️» \r\n;' });
    const { res } = await calendar(drop.id);
    expect(res.headers.get('content-disposition')).toBe('attachment; filename=dropspot-drop.ics');
  });
});
