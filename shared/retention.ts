/**
 * Which recovery points a retention policy keeps: the semantics of `restic forget --keep-*`.
 * Pure (no Node I/O), so workflows, activities and the CLI share it.
 *
 *  - keepLast N: the N newest points.
 *  - keepHourly/Daily/Weekly/Monthly N: the newest point of each of the N most recent hours, days,
 *    ISO weeks (Monday-based, ISO week-numbering year) or months that contain a point. Buckets are
 *    UTC. A bucket without points does not count towards N.
 *  - Rules are independent; a point kept by several rules lists every one in `reasons`.
 *  - Every rule with N > 0 keeps the newest point, so a valid policy never expires the newest.
 */
import { InvalidInputError } from './errors';
import type { RetentionSpec } from './plan';

export type RetentionReason = 'last' | 'hourly' | 'daily' | 'weekly' | 'monthly';

export interface RetentionInputPoint {
  id: string;
  time: Date;
}

export interface RetentionDecision {
  /** Newest first. */
  keep: { id: string; reasons: RetentionReason[] }[];
  /** Newest first. */
  expire: string[];
}

/** The plan field of each reason, for messages. */
export const RETENTION_RULE_FIELD: Record<RetentionReason, keyof RetentionSpec> = {
  last: 'keepLast',
  hourly: 'keepHourly',
  daily: 'keepDaily',
  weekly: 'keepWeekly',
  monthly: 'keepMonthly',
};

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** ISO 8601 week of a UTC date: `2026-W01` (the week-numbering year may differ from the calendar year). */
export function isoWeekKey(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const dayNum = t.getUTCDay() || 7; // Monday 1 .. Sunday 7
  t.setUTCDate(t.getUTCDate() + 4 - dayNum); // the Thursday of this week decides the year
  const yearStart = Date.UTC(t.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((t.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${t.getUTCFullYear()}-W${pad(week)}`;
}

const BUCKETS: { reason: RetentionReason; field: keyof RetentionSpec; key: (d: Date, index: number) => string }[] = [
  { reason: 'last', field: 'keepLast', key: (_d, i) => `#${i}` },
  { reason: 'hourly', field: 'keepHourly', key: (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}` },
  { reason: 'daily', field: 'keepDaily', key: (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` },
  { reason: 'weekly', field: 'keepWeekly', key: isoWeekKey },
  { reason: 'monthly', field: 'keepMonthly', key: (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}` },
];

export function selectRetainedPoints(points: readonly RetentionInputPoint[], policy: RetentionSpec): RetentionDecision {
  const issues: string[] = [];
  for (const b of BUCKETS) {
    const n = policy[b.field];
    if (n !== undefined && (!Number.isInteger(n) || n < 0)) issues.push(`retention.${b.field}: expected a non-negative integer, got ${n}`);
  }
  if (!issues.length && !BUCKETS.some((b) => (policy[b.field] ?? 0) > 0)) {
    issues.push('retention: this would delete every recovery point; set keepLast to 1 or more');
  }
  const seen = new Set<string>();
  for (const p of points) {
    if (!(p.time instanceof Date) || Number.isNaN(p.time.getTime())) issues.push(`point ${p.id}: invalid time`);
    if (seen.has(p.id)) issues.push(`point ${p.id}: listed twice`);
    seen.add(p.id);
  }
  if (issues.length) throw new InvalidInputError('cannot apply the retention policy', issues);

  const sorted = [...points].sort((a, b) => b.time.getTime() - a.time.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  const state = BUCKETS.map((b) => ({ ...b, left: policy[b.field] ?? 0, last: undefined as string | undefined }));
  const keep: RetentionDecision['keep'] = [];
  const expire: string[] = [];
  sorted.forEach((p, i) => {
    const reasons: RetentionReason[] = [];
    for (const s of state) {
      if (s.left <= 0) continue;
      const k = s.key(p.time, i);
      if (k === s.last) continue;
      s.last = k;
      s.left--;
      reasons.push(s.reason);
    }
    if (reasons.length) keep.push({ id: p.id, reasons });
    else expire.push(p.id);
  });
  return { keep, expire };
}
