const FIELDS = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12 },
  { name: 'day of week', min: 0, max: 7 },
] as const;

const MACROS = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);
const MONTH_NAMES: Record<string, number> = { jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12 };
const DAY_NAMES: Record<string, number> = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };
/** Names are allowed only in the fields they name: `jan` is not a minute. */
const FIELD_NAMES: Record<number, Record<string, number>> = { 3: MONTH_NAMES, 4: DAY_NAMES };

/**
 * Checks a standard 5-field cron expression (the form Temporal schedules accept), or a macro such
 * as `@daily`. Returns a message naming the bad field, or undefined when the expression is valid.
 */
export function cronProblem(expression: string): string | undefined {
  const text = expression.trim();
  if (MACROS.has(text)) return undefined;
  const parts = text.split(/\s+/);
  if (parts.length !== 5) return `expected 5 fields (minute hour day-of-month month day-of-week), got ${parts.length}`;
  for (let i = 0; i < 5; i++) {
    const { name, min, max } = FIELDS[i];
    const names = FIELD_NAMES[i] ?? {};
    const valueOf = (v: string) => (/^\d+$/.test(v) ? Number(v) : Object.hasOwn(names, v.toLowerCase()) ? names[v.toLowerCase()] : NaN);
    for (const item of parts[i].split(',')) {
      const m = /^(\*|([a-z0-9]+)(?:-([a-z0-9]+))?)(?:\/(\d+))?$/i.exec(item);
      if (!m) return `${name} field "${parts[i]}" is not valid`;
      const bounds = [m[2], m[3]].filter((v): v is string => v !== undefined).map(valueOf);
      if (bounds.some(Number.isNaN)) return `${name} field "${parts[i]}" is not valid (use numbers; only the month and day-of-week fields take names, like jan or mon)`;
      if (bounds.some((n) => !Number.isInteger(n) || n < min || n > max)) return `${name} field "${parts[i]}" must be within ${min}-${max}`;
      if (bounds.length === 2 && bounds[0] > bounds[1]) return `${name} field "${parts[i]}" has a range that runs backwards`;
      if (m[4] !== undefined && Number(m[4]) === 0) return `${name} field "${parts[i]}" has a step of 0`;
    }
  }
  return undefined;
}
