import { z } from 'zod';
import { InvalidInputError } from './errors';

/** `spec.hooks[1].pre.timeout`: dots between fields, array indices in brackets; empty keys and keys with spaces, colons or control characters quoted. */
export function formatIssuePath(path: readonly PropertyKey[], prefix = ''): string {
  let out = prefix;
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else {
      const name = typeof segment === 'string' && (segment === '' || /[\s:"\\\u0000-\u001f\u007f]/.test(segment)) ? JSON.stringify(segment) : String(segment);
      out += out ? `.${name}` : name;
    }
  }
  return out;
}

const describeValue = (value: unknown): string => {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `"${value.length > 40 ? value.slice(0, 40) + '…' : value}"`;
  return String(value);
};

const TYPE_NAMES: Record<string, string> = { object: 'a mapping', record: 'a mapping', array: 'a list', string: 'a string', number: 'a number', boolean: 'true or false', int: 'an integer' };

/** The closest known field to a misspelt one, when it is close enough to be a likely typo. */
function closestField(unknown: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = editDistance(unknown.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return bestDistance <= Math.max(1, Math.floor(unknown.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

/**
 * Validates `input` and returns the data, or every problem as `path: message` lines written for
 * an operator (zod's defaults name JS types; these name what to write instead).
 */
export function validate<S extends z.ZodType>(
  schema: S,
  input: unknown,
  pathPrefix = '',
): { ok: true; data: z.output<S> } | { ok: false; issues: string[] } {
  // Unknown-field suggestions need the object schema, which only the error map sees.
  const suggestions = new Map<string, string>();
  const result = schema.safeParse(input, {
    error: (iss) => {
      switch (iss.code) {
        case 'invalid_type':
          if (iss.input === undefined) return 'required';
          return `expected ${TYPE_NAMES[iss.expected] ?? iss.expected}, got ${describeValue(iss.input)}`;
        case 'invalid_value':
          return iss.values.length === 1
            ? `expected ${JSON.stringify(iss.values[0])}, got ${describeValue(iss.input)}`
            : `expected one of ${iss.values.map((v) => String(v)).join(', ')}, got ${describeValue(iss.input)}`;
        case 'too_small':
          if (iss.origin === 'array') return `expected at least ${iss.minimum} item${iss.minimum === 1 ? '' : 's'}`;
          if (iss.origin === 'string') return iss.minimum === 1 ? 'must not be empty' : `expected at least ${iss.minimum} characters`;
          return `must be at least ${iss.minimum}`;
        case 'too_big':
          if (iss.origin === 'string') return `expected at most ${iss.maximum} characters`;
          return `must be at most ${iss.maximum}`;
        case 'invalid_key':
          return `invalid key: ${iss.issues.map((i) => i.message).join('; ')}`;
        case 'unrecognized_keys': {
          const shape = (iss.inst as { shape?: Record<string, unknown> } | undefined)?.shape;
          for (const key of iss.keys) {
            const guess = shape ? closestField(key, Object.keys(shape)) : undefined;
            suggestions.set(formatIssuePath([...(iss.path ?? []), key]), unknownFieldHint(guess, shape && Object.keys(shape)));
          }
          return 'unknown field';
        }
        default:
          return undefined;
      }
    },
  });
  if (result.success) return { ok: true, data: result.data };
  const lines: string[] = [];
  for (const issue of result.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const path = formatIssuePath([...issue.path, key]);
        lines.push(`${formatIssuePath([...issue.path, key], pathPrefix)}: unknown field ${suggestions.get(path) ?? unknownFieldHint(undefined, undefined)}`);
      }
    } else {
      lines.push(`${formatIssuePath(issue.path, pathPrefix) || '(root)'}: ${issue.message}`);
    }
  }
  return { ok: false, issues: [...new Set(lines)] };
}

/** What to do about an unknown field: the field it most likely misspells, else the fields allowed there. */
function unknownFieldHint(guess: string | undefined, allowed: string[] | undefined): string {
  if (guess) return `(did you mean ${guess}?)`;
  if (!allowed) return '(check the spelling, or remove it)';
  if (allowed.length === 0) return '(no fields are allowed here; remove it)';
  return `(check the spelling; allowed here: ${[...allowed].sort().join(', ')})`;
}

/** `validate`, throwing InvalidInputError(`what` is invalid) with every issue. */
export function validateOrThrow<S extends z.ZodType>(schema: S, input: unknown, what: string, pathPrefix = ''): z.output<S> {
  const result = validate(schema, input, pathPrefix);
  if (!result.ok) throw new InvalidInputError(`${what} is invalid`, result.issues);
  return result.data;
}
