import { z } from 'zod';

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000, ms: 1 } as const;
type Unit = keyof typeof UNIT_MS;
const UNIT_ORDER: Unit[] = ['d', 'h', 'm', 's', 'ms'];

export const DURATION_HINT = 'expected a duration like 30s';

/**
 * Parses `30s`, `5m`, `1h30m`, `2d`, `250ms` into milliseconds. Units must appear at most once and
 * from largest to smallest, so `30m1h` is rejected rather than silently summed. Returns undefined
 * when the text is not a duration.
 */
export function parseDuration(text: string): number | undefined {
  if (!/^(\d+(d|h|ms|m|s))+$/.test(text)) return undefined;
  let total = 0;
  let lastRank = -1;
  for (const [, amount, unit] of text.matchAll(/(\d+)(d|h|ms|m|s)/g)) {
    const rank = UNIT_ORDER.indexOf(unit as Unit);
    if (rank <= lastRank) return undefined;
    lastRank = rank;
    total += Number(amount) * UNIT_MS[unit as Unit];
  }
  return Number.isSafeInteger(total) ? total : undefined;
}

/** Milliseconds of a duration that was already validated; throws when it is not one. */
export function durationToMs(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw new RangeError(`${JSON.stringify(text)}: ${DURATION_HINT}`);
  return ms;
}

/** The shortest duration text for a number of milliseconds: 5400000 -> `1h30m`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = Math.round(ms);
  let out = '';
  for (const unit of UNIT_ORDER) {
    const n = Math.floor(rest / UNIT_MS[unit]);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * UNIT_MS[unit];
    }
  }
  return out;
}

/** A duration kept as the text the operator wrote (it is echoed in reports and catalogs). */
export const durationSchema = z
  .string({ error: (iss) => (iss.input === undefined ? 'required' : DURATION_HINT) })
  .refine((s) => parseDuration(s) !== undefined && parseDuration(s)! > 0, { error: DURATION_HINT });

/** The longest delay a Node.js timer keeps (2^31 − 1 ms, about 24.8 days); longer ones fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A duration an activity waits out with a timer: hook steps, holds, checks. */
export const timerDurationSchema = durationSchema.refine((s) => (parseDuration(s) ?? 0) <= MAX_TIMER_MS, {
  error: 'expected at most 24d (a longer timeout would expire at once)',
});
