/**
 * The bad-input corpus: every case must end in a typed error that names the file or object, the
 * field, and what to write instead; nothing may escape as a TypeError or hang. Plan cases go
 * through `drctl plan validate`'s loader, transform cases through the restore's transform step,
 * config cases through drctl's config reader, datapath cases through the repository's readers.
 */
import { parse as parseYaml } from 'yaml';
import { loadPlanFile } from '../../../client/commands/plan';
import { parseConfig } from '../../../client/config-file';
import { DrError, InvalidInputError } from '../../../shared/errors';
import type { KubeObject } from '../../../shared/kube-object';
import { parseTransformRules, transformForTarget } from '../../../shared/transform';
import { issueLines, loadCorpus, unmetExpectations, type CorpusCase } from './corpus-files';
import { buildFixture, DATAPATH_CASES, type DatapathCase } from './datapath-cases';

const thrownBy = (run: () => unknown): unknown => {
  try {
    run();
  } catch (err) {
    return err;
  }
  return undefined;
};

/** The checks every file case shares: a typed, non-retryable error whose issue lines name fields. */
function expectOperatorError(err: unknown, c: CorpusCase, firstLine: RegExp): void {
  expect(err).toBeInstanceOf(DrError);
  expect(err).toBeInstanceOf(InvalidInputError);
  const e = err as InvalidInputError;
  expect(e.retryable).toBe(false);
  expect(e.message.split('\n')[0]).toMatch(firstLine);
  const lines = issueLines(e.message);
  expect(lines.length).toBeGreaterThan(0);
  for (const line of lines) expect(line).toMatch(/^\S[^\n]*?: \S/);
  expect(unmetExpectations(lines, c.expects)).toEqual([]);
}

const escaped = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** One test per case; a `known-bug` case runs as test.failing, so fixing the bug turns it red until the marker goes. */
function eachCase<C extends { name: string; knownBug?: string }>(cases: C[], run: (c: C) => unknown): void {
  const rows = (known: boolean) => cases.filter((c) => !!c.knownBug === known).map((c) => [c.name, c] as const);
  if (rows(false).length) test.each(rows(false))('%s', (_, c) => run(c));
  if (rows(true).length) test.failing.each(rows(true))('known bug: %s', (_, c) => run(c));
}

const planCases = loadCorpus('plans');
const transformCases = loadCorpus('transforms');
const configCases = loadCorpus('config');

function runPlanCase(c: CorpusCase): void {
  expectOperatorError(thrownBy(() => loadPlanFile(c.file)), c, new RegExp(`^${escaped(c.file)}: the plan is (invalid|not valid YAML)$`));
}

function runTransformCase(c: CorpusCase): void {
  const { rules, object } = parseYaml(c.text) as { rules: unknown; object: KubeObject };
  const err = thrownBy(() => transformForTarget(object, parseTransformRules(rules)));
  expectOperatorError(err, c, /^(transform rules is invalid|transform rule \d+ cannot apply to \S+ \S+)$/);
}

function runConfigCase(c: CorpusCase): void {
  expectOperatorError(thrownBy(() => parseConfig(c.text, c.file)), c, new RegExp(`^${escaped(c.file)}: invalid drctl config$`));
}

describe('plans, as `drctl plan validate` reads them', () => eachCase(planCases, runPlanCase));
describe('transform rules that do not apply, as a restore runs them', () => eachCase(transformCases, runTransformCase));
describe("drctl's config file", () => eachCase(configCases, runConfigCase));

async function runDatapathCase(c: DatapathCase): Promise<void> {
  const fixture = await buildFixture();
  const settled = await c.run(fixture).then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if ('reported' in c.outcome) {
    expect(settled).toEqual({ value: expect.objectContaining({ unreadable: c.names(fixture) }) });
    return;
  }
  expect('error' in settled && settled.error).toBeInstanceOf(c.outcome.thrown);
  const err = (settled as { error: Error }).error;
  expect(err).toBeInstanceOf(DrError);
  for (const part of c.names(fixture)) expect(err.message).toContain(part);
  if (c.says) expect(err.message).toMatch(c.says);
}

describe('stored datapath objects: truncated, bit-flipped, swapped, wrong or missing key, phantom listings', () => eachCase(DATAPATH_CASES, runDatapathCase));

const counted = (cases: { knownBug?: string }[]) => cases.filter((c) => !c.knownBug).length;
const groups = { plans: planCases, transforms: transformCases, 'config files': configCases, 'datapath objects': DATAPATH_CASES };
const total = Object.values(groups).reduce((n, cases) => n + counted(cases), 0);
const knownBugCount = Object.values(groups).reduce((n, cases) => n + cases.length - counted(cases), 0);
const breakdown = Object.entries(groups).map(([group, cases]) => `${counted(cases)} ${group}`).join(', ');

describe('the corpus', () => {
  test(`holds at least 100 cases (${total}: ${breakdown}; plus ${knownBugCount} known bugs)`, () => {
    expect(total).toBeGreaterThanOrEqual(100);
    const names = [...planCases, ...transformCases, ...configCases, ...DATAPATH_CASES].map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
  });
});
