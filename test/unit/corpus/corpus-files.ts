/**
 * Reads the bad-input corpus under test/corpus/. Each case is one file whose leading comment
 * lines say what it is and what the operator must be told:
 *
 *   # A hook step's timeout without a unit.            (what the case is; free text)
 *   # expect: spec.hooks[0].pre.timeout: expected a duration like 30s$
 *   # known-bug: shared/transform.ts applyRule: ...    (optional: fails today, see below)
 *
 * `expect:` is a field path, `: `, then a regular expression the rest of that issue line must
 * match; a case may have several. A `known-bug:` case documents a crash that is not fixed yet: it
 * runs as test.failing, so it turns red (and the marker must go) once the product is fixed.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

export const CORPUS_ROOT = path.join(__dirname, '../../corpus');

export interface ExpectedIssue {
  /** The field path (or `line L, column C`) the issue line starts with, taken literally. */
  path: string;
  /** What the rest of the line must match. */
  message: RegExp;
}

export interface CorpusCase {
  /** Path under test/corpus/, e.g. `plans/durations/no-unit.yaml`. */
  name: string;
  file: string;
  text: string;
  about: string;
  expects: ExpectedIssue[];
  knownBug?: string;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((entry) => {
      const full = path.join(dir, entry);
      return statSync(full).isDirectory() ? filesUnder(full) : entry.endsWith('.yaml') ? [full] : [];
    });
}

function parseHeader(name: string, text: string): Pick<CorpusCase, 'about' | 'expects' | 'knownBug'> {
  const about: string[] = [];
  const expects: ExpectedIssue[] = [];
  let knownBug: string | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith('#')) break;
    const body = line.replace(/^#\s?/, '');
    if (body.startsWith('expect: ')) {
      const spec = body.slice('expect: '.length);
      const sep = spec.indexOf(': ');
      if (sep <= 0) throw new Error(`${name}: "# expect:" needs "<field path>: <regex>", got ${JSON.stringify(spec)}`);
      expects.push({ path: spec.slice(0, sep), message: new RegExp(spec.slice(sep + 2)) });
    } else if (body.startsWith('known-bug: ')) {
      knownBug = body.slice('known-bug: '.length);
    } else {
      about.push(body);
    }
  }
  if (expects.length === 0) throw new Error(`${name}: a corpus case needs at least one "# expect:" line`);
  return { about: about.join(' '), expects, knownBug };
}

/** Every case in a folder of the corpus (e.g. `plans`), in a stable order. */
export function loadCorpus(folder: string): CorpusCase[] {
  return filesUnder(path.join(CORPUS_ROOT, folder)).map((file) => {
    const name = path.relative(CORPUS_ROOT, file);
    const text = readFileSync(file, 'utf8');
    return { name, file, text, ...parseHeader(name, text) };
  });
}

/** The issue lines of an error message: every line after the first, trimmed. */
export const issueLines = (message: string): string[] =>
  message
    .split('\n')
    .slice(1)
    .map((l) => l.trim())
    .filter(Boolean);

/** The expectations no issue line satisfies, for a readable failure. */
export function unmetExpectations(lines: string[], expects: ExpectedIssue[]): string[] {
  return expects
    .filter(({ path: field, message }) => !lines.some((l) => l.startsWith(`${field}: `) && message.test(l.slice(field.length + 2))))
    .map(({ path: field, message }) => `${field}: /${message.source}/`);
}
