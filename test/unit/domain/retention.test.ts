import { pointId, pointIdTime } from '../../../shared/catalog';
import { InvalidInputError } from '../../../shared/errors';
import { isoWeekKey, selectRetainedPoints, type RetentionInputPoint } from '../../../shared/retention';

/** Points at the given UTC times; ids are derived (and sort) by time. */
const at = (...isos: string[]): RetentionInputPoint[] =>
  isos.map((iso, i) => {
    const id = pointId(new Date(iso), `p${i}`);
    return { id, time: pointIdTime(id)! };
  });
const idOf = (points: RetentionInputPoint[], iso: string) => points.find((p) => p.time.toISOString() === new Date(iso).toISOString())!.id;
const keptMap = (r: ReturnType<typeof selectRetainedPoints>) => Object.fromEntries(r.keep.map((k) => [k.id, k.reasons]));

describe('selectRetainedPoints (restic forget semantics)', () => {
  test('keepLast keeps the N newest, newest first; input order does not matter', () => {
    const pts = at('2026-11-20T01:00:00Z', '2026-11-20T02:00:00Z', '2026-11-20T03:00:00Z', '2026-11-20T04:00:00Z', '2026-11-20T05:00:00Z');
    const shuffled = [pts[2], pts[0], pts[4], pts[1], pts[3]];
    const r = selectRetainedPoints(shuffled, { keepLast: 2 });
    expect(r.keep).toEqual([
      { id: pts[4].id, reasons: ['last'] },
      { id: pts[3].id, reasons: ['last'] },
    ]);
    expect(r.expire).toEqual([pts[2].id, pts[1].id, pts[0].id]);
  });

  test('keepLast larger than the number of points keeps all', () => {
    const pts = at('2026-11-20T01:00:00Z', '2026-11-20T02:00:00Z');
    const r = selectRetainedPoints(pts, { keepLast: 10 });
    expect(r.keep.map((k) => k.id)).toEqual([pts[1].id, pts[0].id]);
    expect(r.expire).toEqual([]);
  });

  test('no points: nothing kept, nothing expired', () => {
    expect(selectRetainedPoints([], { keepLast: 3 })).toEqual({ keep: [], expire: [] });
  });

  test('keepDaily keeps the newest point of each of the N most recent days that have points (gaps do not count)', () => {
    const pts = at(
      '2026-11-15T10:00:00Z', // day 15
      '2026-11-18T08:00:00Z', // day 18
      '2026-11-18T20:00:00Z', // day 18, newest
      '2026-11-20T00:00:00Z', // day 20 (19 has nothing)
      '2026-11-20T23:59:59Z', // day 20, newest
      '2026-11-22T06:00:00Z', // day 22
    );
    const r = selectRetainedPoints(pts, { keepDaily: 3 });
    expect(r.keep).toEqual([
      { id: idOf(pts, '2026-11-22T06:00:00Z'), reasons: ['daily'] },
      { id: idOf(pts, '2026-11-20T23:59:59Z'), reasons: ['daily'] },
      { id: idOf(pts, '2026-11-18T20:00:00Z'), reasons: ['daily'] },
    ]);
    expect(r.expire).toEqual([idOf(pts, '2026-11-20T00:00:00Z'), idOf(pts, '2026-11-18T08:00:00Z'), idOf(pts, '2026-11-15T10:00:00Z')]);
  });

  test('days are UTC days: 23:30Z and 00:30Z next day are different buckets', () => {
    const pts = at('2026-11-22T23:30:00Z', '2026-11-23T00:30:00Z');
    const r = selectRetainedPoints(pts, { keepDaily: 2 });
    expect(r.expire).toEqual([]);
    expect(r.keep.map((k) => k.id)).toEqual([pts[1].id, pts[0].id]);
  });

  test('keepHourly keeps the newest of each hour', () => {
    const pts = at('2026-11-22T01:05:00Z', '2026-11-22T01:55:00Z', '2026-11-22T02:10:00Z', '2026-11-22T02:40:00Z', '2026-11-22T04:00:00Z');
    const r = selectRetainedPoints(pts, { keepHourly: 2 });
    expect(r.keep).toEqual([
      { id: pts[4].id, reasons: ['hourly'] },
      { id: pts[3].id, reasons: ['hourly'] },
    ]);
    expect(r.expire).toEqual([pts[2].id, pts[1].id, pts[0].id]);
  });

  test('ISO weeks: Monday starts a week, and the week-numbering year differs from the calendar year at its ends', () => {
    expect(isoWeekKey(new Date('2026-12-31T12:00:00Z'))).toBe('2026-W53'); // Thursday
    expect(isoWeekKey(new Date('2027-01-03T23:59:59Z'))).toBe('2026-W53'); // Sunday
    expect(isoWeekKey(new Date('2027-01-04T00:00:00Z'))).toBe('2027-W01'); // Monday
    expect(isoWeekKey(new Date('2024-12-30T00:00:00Z'))).toBe('2025-W01'); // Monday of 2025's week 1
    expect(isoWeekKey(new Date('2021-01-03T00:00:00Z'))).toBe('2020-W53');
    expect(isoWeekKey(new Date('2026-11-22T00:00:00Z'))).toBe('2026-W47'); // Sunday
    expect(isoWeekKey(new Date('2026-11-23T00:00:00Z'))).toBe('2026-W48'); // Monday
  });

  test('keepWeekly across a year boundary', () => {
    const pts = at(
      '2026-12-21T10:00:00Z', // 2026-W52
      '2026-12-28T10:00:00Z', // 2026-W53 (Monday)
      '2027-01-02T10:00:00Z', // 2026-W53 (Saturday), newest of that week
      '2027-01-04T10:00:00Z', // 2027-W01
      '2027-01-05T10:00:00Z', // 2027-W01, newest
    );
    const r = selectRetainedPoints(pts, { keepWeekly: 2 });
    expect(r.keep).toEqual([
      { id: idOf(pts, '2027-01-05T10:00:00Z'), reasons: ['weekly'] },
      { id: idOf(pts, '2027-01-02T10:00:00Z'), reasons: ['weekly'] },
    ]);
    expect(r.expire).toEqual([idOf(pts, '2027-01-04T10:00:00Z'), idOf(pts, '2026-12-28T10:00:00Z'), idOf(pts, '2026-12-21T10:00:00Z')]);
  });

  test('keepMonthly keeps the newest of each month (UTC)', () => {
    const pts = at('2026-09-30T23:00:00Z', '2026-10-01T00:30:00Z', '2026-10-31T23:59:00Z', '2026-11-01T00:00:00Z', '2026-11-15T00:00:00Z');
    const r = selectRetainedPoints(pts, { keepMonthly: 5 });
    expect(r.keep).toEqual([
      { id: pts[4].id, reasons: ['monthly'] },
      { id: pts[2].id, reasons: ['monthly'] },
      { id: pts[0].id, reasons: ['monthly'] },
    ]);
    expect(r.expire).toEqual([pts[3].id, pts[1].id]);
  });

  test('rules combine; a point kept by several rules lists every reason', () => {
    // Hourly backups over three days, plus one a month earlier.
    const isos: string[] = ['2026-10-20T12:00:00Z'];
    for (const day of ['20', '21', '22']) for (const h of ['00', '06', '12', '18']) isos.push(`2026-11-${day}T${h}:00:00Z`);
    const pts = at(...isos);
    const r = selectRetainedPoints(pts, { keepLast: 3, keepDaily: 2, keepWeekly: 1, keepMonthly: 2 });
    expect(keptMap(r)).toEqual({
      [idOf(pts, '2026-11-22T18:00:00Z')]: ['last', 'daily', 'weekly', 'monthly'],
      [idOf(pts, '2026-11-22T12:00:00Z')]: ['last'],
      [idOf(pts, '2026-11-22T06:00:00Z')]: ['last'],
      [idOf(pts, '2026-11-21T18:00:00Z')]: ['daily'],
      [idOf(pts, '2026-10-20T12:00:00Z')]: ['monthly'],
    });
    expect(r.keep.map((k) => k.id)).toEqual([
      idOf(pts, '2026-11-22T18:00:00Z'),
      idOf(pts, '2026-11-22T12:00:00Z'),
      idOf(pts, '2026-11-22T06:00:00Z'),
      idOf(pts, '2026-11-21T18:00:00Z'),
      idOf(pts, '2026-10-20T12:00:00Z'),
    ]);
    expect(r.expire).toHaveLength(pts.length - 5);
    expect(new Set([...r.expire, ...r.keep.map((k) => k.id)]).size).toBe(pts.length);
  });

  test('a zero count disables a rule; equal times are ordered by id', () => {
    const t = '2026-11-22T01:00:00.000Z';
    const pts = [
      { id: '20261122T010000Z-a', time: new Date(t) },
      { id: '20261122T010000Z-b', time: new Date(t) },
    ];
    const r = selectRetainedPoints(pts, { keepLast: 1, keepDaily: 0 });
    expect(r).toEqual({ keep: [{ id: '20261122T010000Z-b', reasons: ['last'] }], expire: ['20261122T010000Z-a'] });
  });

  test('every valid policy keeps the newest point', () => {
    const pts = at('2025-01-01T00:00:00Z', '2026-03-04T05:06:07Z', '2026-11-22T02:15:00Z', '2026-11-22T02:45:00Z');
    for (const field of ['keepLast', 'keepHourly', 'keepDaily', 'keepWeekly', 'keepMonthly'] as const) {
      const r = selectRetainedPoints(pts, { [field]: 1 });
      expect(r.keep).toHaveLength(1);
      expect(r.keep[0].id).toBe(pts[3].id);
      expect(r.expire).toHaveLength(3);
    }
  });

  test('refuses a policy that would expire everything, bad counts and duplicate ids', () => {
    const pts = at('2026-11-22T01:00:00Z');
    expect(() => selectRetainedPoints(pts, {})).toThrow(InvalidInputError);
    expect(() => selectRetainedPoints(pts, { keepLast: 0, keepDaily: 0 })).toThrow(/would delete every recovery point/);
    expect(() => selectRetainedPoints(pts, { keepLast: -1 })).toThrow(/retention.keepLast: expected a non-negative integer/);
    expect(() => selectRetainedPoints(pts, { keepDaily: 1.5 })).toThrow(/retention.keepDaily/);
    expect(() => selectRetainedPoints([pts[0], pts[0]], { keepLast: 1 })).toThrow(/listed twice/);
    expect(() => selectRetainedPoints([{ id: 'x', time: new Date('nope') }], { keepLast: 1 })).toThrow(/invalid time/);
  });
});
