import fc from 'fast-check';
import YAML from 'yaml';
import { cronProblem } from '../../../shared/cron';
import { formatDuration, parseDuration } from '../../../shared/duration';
import { InvalidInputError } from '../../../shared/errors';
import { matchesGlob } from '../../../shared/glob';
import { labelKeyProblem, labelValueProblem } from '../../../shared/label-selector';
import { parsePlan, validatePlan, VOLUME_MODES, volumeModeFor } from '../../../shared/plan';
import { cronExpression, dnsLabelOrPrototypeName, labelKey, labelValue, planInput, PROTOTYPE_NAMES } from './arbitraries';

/** Runs `parse`; anything thrown must be an InvalidInputError whose every issue is `path: message`. */
function rejectsOnlyWithFieldIssues(parse: () => unknown): void {
  try {
    parse();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidInputError);
    const issues = (err as InvalidInputError).issues;
    expect(issues.length).toBeGreaterThan(0);
    for (const issue of issues) expect(issue).toMatch(/^[^:\n][^]*?: \S/);
  }
}

/** Every path into a JSON value, as key lists. */
function pathsOf(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const here = [prefix];
  if (Array.isArray(value)) return here.concat(value.flatMap((v, i) => pathsOf(v, [...prefix, i])));
  if (value && typeof value === 'object') return here.concat(Object.entries(value).flatMap(([k, v]) => pathsOf(v, [...prefix, k])));
  return here;
}

function withValueAt(root: unknown, path: (string | number)[], value: unknown): unknown {
  if (path.length === 0) return value;
  const copy = JSON.parse(JSON.stringify(root)) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  node[path[path.length - 1]!] = value;
  return copy;
}

describe('plan schema', () => {
  test('arbitrary JSON is accepted or rejected with field-named issues, never a crash', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (input) => rejectsOnlyWithFieldIssues(() => validatePlan(input))),
      { numRuns: 300 },
    );
  });

  test('arbitrary text is accepted or rejected with field-named issues, never a crash', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.jsonValue({ maxDepth: 3 }).map((v) => YAML.stringify(v))), (text) =>
        rejectsOnlyWithFieldIssues(() => parsePlan(text)),
      ),
      { numRuns: 300 },
    );
  });

  test('a valid plan with any one field replaced by arbitrary JSON is rejected with field-named issues, never a crash', () => {
    const mutated = planInput.chain((plan) => {
      const paths = pathsOf(plan);
      return fc.tuple(fc.constant(plan), fc.constantFrom(...paths), fc.jsonValue({ maxDepth: 2 }));
    });
    fc.assert(
      fc.property(mutated, ([plan, path, value]) => rejectsOnlyWithFieldIssues(() => validatePlan(withValueAt(plan, path, value)))),
      { numRuns: 120 },
    );
  });

  test('generated valid plans parse from YAML, and the parsed plan validates to itself (as a catalog keeps it)', () => {
    fc.assert(
      fc.property(planInput, (input) => {
        const plan = parsePlan(YAML.stringify(input));
        expect(plan.metadata.name).toBe(input.metadata.name);
        expect(plan.spec.selector.namespaces).toEqual(input.spec.selector.namespaces);
        expect(plan.spec.transforms).toHaveLength(input.spec.transforms?.length ?? 0);
        expect(validatePlan(JSON.parse(JSON.stringify(plan)))).toEqual(plan);
        expect(parsePlan(YAML.stringify(plan))).toEqual(plan);
      }),
      { numRuns: 50 },
    );
  });

  test('volumeModeFor answers a volume mode for every storage class and PVC name, including Object.prototype names', () => {
    fc.assert(
      fc.property(
        fc.dictionary(dnsLabelOrPrototypeName, fc.constantFrom(...VOLUME_MODES), { maxKeys: 2 }),
        fc.oneof(dnsLabelOrPrototypeName, fc.constantFrom(...PROTOTYPE_NAMES), fc.string({ maxLength: 8 })),
        fc.constantFrom(...VOLUME_MODES),
        (byStorageClass, storageClass, defaultMode) => {
          const mode = volumeModeFor({ defaultMode, byStorageClass, byPvc: {} }, { namespace: 'shop', name: 'data-0', storageClass });
          expect(VOLUME_MODES).toContain(mode);
          expect(mode).toBe(Object.hasOwn(byStorageClass, storageClass) ? byStorageClass[storageClass] : defaultMode);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('durations, schedules, labels and globs', () => {
  test('formatDuration and parseDuration are inverse on whole milliseconds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e15 }), (ms) => expect(parseDuration(formatDuration(ms))).toBe(ms)),
      { numRuns: 500 },
    );
  });

  test('parseDuration and cronProblem answer any text without throwing', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (text) => {
        const ms = parseDuration(text);
        expect(ms === undefined || (Number.isSafeInteger(ms) && ms >= 0)).toBe(true);
        const problem = cronProblem(text);
        expect(problem === undefined || typeof problem === 'string').toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  test('generated five-field schedules are valid', () => {
    fc.assert(
      fc.property(cronExpression, (expr) => expect(cronProblem(expr)).toBeUndefined()),
      { numRuns: 300 },
    );
  });

  test('valid label keys and values pass; a selector metacharacter anywhere makes them invalid', () => {
    fc.assert(
      fc.property(labelKey, labelValue, fc.constantFrom(',', '=', '!', '(', ')', ' ', '\n', '\0'), fc.nat(), (key, value, bad, at) => {
        expect(labelKeyProblem(key)).toBeUndefined();
        expect(labelValueProblem(value)).toBeUndefined();
        const spliced = (s: string) => s.slice(0, at % (s.length + 1)) + bad + s.slice(at % (s.length + 1));
        expect(labelKeyProblem(spliced(key))).toEqual(expect.any(String));
        expect(labelValueProblem(spliced(value))).toEqual(expect.any(String));
      }),
      { numRuns: 300 },
    );
  });

  test('matchesGlob agrees with the regular-expression reading of a glob', () => {
    const reference = (glob: string, value: string) =>
      new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^]*').replace(/\?/g, '[^]')}$`).test(value);
    const text = (chars: string, maxLength: number) => fc.string({ unit: fc.constantFrom(...chars), maxLength });
    fc.assert(
      fc.property(text('ab*?.', 8), text('ab.', 10), (glob, value) => expect(matchesGlob(glob, value)).toBe(reference(glob, value))),
      { numRuns: 1000 },
    );
  });

  test('matchesGlob takes linear time on globs that make a backtracking regex explode', () => {
    fc.assert(
      fc.property(fc.integer({ min: 8, max: 40 }), fc.integer({ min: 63, max: 253 }), (stars, length) => {
        const started = process.hrtime.bigint();
        expect(matchesGlob('*a'.repeat(stars) + 'b', 'a'.repeat(length))).toBe(false);
        expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(250);
      }),
      { numRuns: 50 },
    );
  });
});
