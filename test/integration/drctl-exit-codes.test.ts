/**
 * drctl's contract with scripts: every command given bad input exits with the documented code
 * (README, "Exit codes") and one line naming the field and the fix, before it contacts any server;
 * a missing object exits 3 and an unreachable server 6. Runs the built CLI (dist/) as an operator
 * would, against the stack's Temporal server for the not-found case.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { EXIT_CODES } from '../../config/exit-codes';

const DRCTL = path.join(__dirname, '../../dist/client/drctl.js');
const PLAN = path.join(__dirname, '../../examples/plan.yaml');
/** Nothing listens here: a command that validates its input first never notices. */
const UNREACHABLE = { TEMPORAL_ADDRESS: '127.0.0.1:1' };

function drctl(args: string[], env: Record<string, string> = UNREACHABLE): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [DRCTL, ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const { invalidInput, notFound, unreachable } = EXIT_CODES;
const cases: [string[], number, RegExp][] = [
  [['backup', '/nope.yaml'], invalidInput, /^drctl: cannot read plan file \/nope\.yaml/],
  [['backup', PLAN, '--bogus'], invalidInput, /^error: unknown option '--bogus'/],
  [['restore', 'shop/latest'], invalidInput, /^error: required option '--to <context>' not specified/],
  [['restore', 'no-slash', '--to', 'target'], invalidInput, /^drctl: point: give it as <plan>\/<point-id> or <plan>\/latest/],
  [['restore', 'shop/latest', '--to', 'target', '--existing', 'merge'], invalidInput, /^drctl: --existing: expected skip, update or fail, got "merge"/],
  [['points', 'prune', '--plan', PLAN, '--abandoned-after', 'soon'], invalidInput, /^drctl: --abandoned-after "soon": expected a duration like 24h or 2d/],
  [['points', 'prune', '--plan', PLAN, '--gc-grace', '-1h'], invalidInput, /^drctl: --gc-grace "-1h": expected a duration/],
  [['replicate', 'start', '/nope.yaml'], invalidInput, /^drctl: cannot read plan file/],
  [['drill', 'schedule', PLAN, '--cron', 'bad'], invalidInput, /^drctl: --cron: expected 5 fields/],
  [['drill', 'schedule', PLAN, '--pause-after-failures', '-1'], invalidInput, /^drctl: --pause-after-failures: expected a whole number, 0 \(never\) or more, got -1/],
  [['drill', 'schedule', PLAN, '--catchup-window', 'soon'], invalidInput, /^drctl: --catchup-window: expected a duration of at least 1s like 10m, got "soon"/],
  [['drill', 'run', PLAN, '--cluster-name', 'x'], invalidInput, /^drctl: --cluster-name: give it with --to <context>/],
  [['drill', 'report', PLAN], invalidInput, /^error: missing required argument 'id'/],
  [['failover', PLAN, '--to', 'nowhere'], invalidInput, /^drctl: plan shop has no site "nowhere"; its sites are primary, target/],
  [['failover', PLAN, '--planned', '--unplanned'], invalidInput, /^drctl: --planned and --unplanned: choose one/],
  [['approve', PLAN, '--gate', 'nope'], invalidInput, /^drctl: --gate: expected one of before-fencing, before-traffic-switch, confirm-fenced, got "nope"/],
  [['store', 'check', '--size', 'abc'], invalidInput, /^error: option '--size <bytes>' argument 'abc' is invalid\. expected a whole number of at least 1/],
  [['points', 'list', '--store', 's3://bucket/p', '--endpoint', 'http://127.0.0.1:1'], invalidInput, /^drctl: LIST s3:\/\/bucket\/p\/points\/: no credentials for the object store; set AWS_ACCESS_KEY_ID/],
  [['plan', 'validate', '/nope.yaml'], invalidInput, /^drctl: cannot read plan file/],
  [['plan', 'apply', PLAN], invalidInput, /^drctl: plan apply: give the namespace of the DRPlan resources with -n\/--namespace <namespace>/],
  [['plan', 'apply', '/nope.yaml', '-n', 'shop'], invalidInput, /^drctl: cannot read plan file \/nope\.yaml/],
  [['backup', PLAN, '-n', 'shop'], invalidInput, /^drctl: with -n\/--namespace, <plan> is the name of a DRPlan in namespace shop, not a file/],
  [['points', 'list', '-o', 'wide'], invalidInput, /^error: option '-o, --output <format>' argument 'wide' is invalid\. expected one of table, json, yaml, name/],
  [['drill', 'report', PLAN, 'some-id', '-o', 'xml'], invalidInput, /^error: option '-o, --output <format>' argument 'xml' is invalid/],
  [['backup', PLAN], unreachable, /^drctl: cannot reach the Temporal server at 127\.0\.0\.1:1 \(namespace default\)/],
];

describe('drctl exit codes and one-line errors', () => {
  it.each(cases)('drctl %j exits %i with one line naming the problem', async (args, code, line) => {
    const noCredentials: Record<string, string> = args[1] === 'list' ? { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_PROFILE: 'none', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent', AWS_CONFIG_FILE: '/nonexistent' } : {};
    const r = await drctl(args, { ...UNREACHABLE, ...noCredentials });
    expect({ code: r.code, first: r.stderr.split('\n')[0] }).toEqual({ code, first: expect.stringMatching(line) });
    if (r.stderr.startsWith('drctl:')) expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /); // never a stack trace
  });

  it('exits 3 for a schedule or failover that does not exist, and shows the stack only with --debug', async () => {
    const r = await drctl(['drill', 'pause', 'no-such-plan'], {});
    expect(r).toMatchObject({ code: notFound, stderr: 'drctl: plan no-such-plan has no drill schedule (drill-schedule/no-such-plan); create it with `drctl drill schedule <plan.yaml>`\n' });
    // Failovers are found by the plan's search attribute, whatever their number.
    expect(await drctl(['approve', 'no-such-plan', '--gate', 'before-fencing'], {})).toMatchObject({
      code: notFound,
      stderr: 'drctl: no failover of plan no-such-plan is running; `drctl runs list --plan no-such-plan` lists its runs\n',
    });
    expect(await drctl(['failover', 'no-such-plan', '--status'], {})).toMatchObject({
      code: notFound,
      stderr: 'drctl: plan no-such-plan has had no failover; `drctl runs list --plan no-such-plan` lists its runs\n',
    });
    const debug = await drctl(['drill', 'pause', 'no-such-plan', '--debug'], {});
    expect(debug.code).toBe(notFound);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });

  it('takes its connection defaults from the config file, under the environment and the flags', async () => {
    const missing = await drctl(['backup', PLAN], { DRCTL_CONFIG: '/nonexistent/drctl.yaml' });
    expect(missing).toMatchObject({ code: invalidInput, stderr: 'drctl: DRCTL_CONFIG: /nonexistent/drctl.yaml does not exist; create it or unset DRCTL_CONFIG\n' });
    const file = path.join(process.env.TDR_TEST_STACK_DIR ?? '/tmp', 'drctl-config.yaml');
    writeFileSync(file, 'temporal:\n  address: 127.0.0.1:2\n');
    const fromFile = await drctl(['backup', PLAN], { DRCTL_CONFIG: file, TEMPORAL_ADDRESS: '' });
    expect(fromFile).toMatchObject({ code: unreachable, stderr: expect.stringMatching(/^drctl: cannot reach the Temporal server at 127\.0\.0\.1:2 /) });
    const fromEnv = await drctl(['backup', PLAN], { DRCTL_CONFIG: file, TEMPORAL_ADDRESS: '127.0.0.1:3' });
    expect(fromEnv.stderr).toMatch(/at 127\.0\.0\.1:3 /);
    const fromFlag = await drctl(['--temporal-address', '127.0.0.1:4', 'backup', PLAN], { DRCTL_CONFIG: file, TEMPORAL_ADDRESS: '127.0.0.1:3' });
    expect(fromFlag.stderr).toMatch(/at 127\.0\.0\.1:4 /);
  });

  it('completes commands, subcommands, options and plan files in bash', async () => {
    const script = (await drctl(['completion', 'bash'])).stdout;
    const complete = (words: string[]) =>
      new Promise<string>((resolve) => {
        const line = `COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _drctl; printf '%s\\n' "\${COMPREPLY[@]}"`;
        execFile('bash', ['-c', `${script}\n${line}`], { cwd: path.join(__dirname, '../..') }, (_e, out) => resolve(out.trim()));
      });
    expect(await complete(['drctl', 'poi'])).toBe('points');
    expect((await complete(['drctl', 'points', ''])).split('\n')).toEqual(expect.arrayContaining(['list', 'describe', 'verify', 'prune']));
    expect((await complete(['drctl', 'drill', 'schedule', 'examples/plan.yaml', '--c'])).split('\n')).toEqual(['--cron', '--catchup-window']);
    expect(await complete(['drctl', 'backup', 'examples/pl'])).toBe('examples/plan.yaml');
    const zsh = await drctl(['completion', 'zsh']);
    expect(zsh.stdout).toBe(`autoload -U +X bashcompinit && bashcompinit\n${script}`);
    expect(await drctl(['completion', 'fish'])).toMatchObject({ code: invalidInput, stderr: 'drctl: shell: expected bash or zsh, got "fish"\n' });
  });

  it('shows examples in the --help of every command', async () => {
    const script = (await drctl(['completion', 'bash'])).stdout;
    const tree = [...script.matchAll(/^ {4}"([^"]*)"\) echo "([^"]*)"/gm)].map((m) => ({ path: m[1]!, words: m[2]!.split(' ') }));
    const leaves = tree.filter((c) => c.path && c.words.every((w) => w.startsWith('-'))).map((c) => c.path);
    expect(leaves).toEqual(expect.arrayContaining(['backup', 'points prune', 'drill schedule', 'runs watch', 'status']));
    const missing: string[] = [];
    for (const leaf of leaves) {
      const help = await drctl([...leaf.split(' '), '--help']);
      if (help.code !== 0 || !help.stdout.includes('\nExamples:\n  ')) missing.push(leaf);
    }
    expect(missing).toEqual([]);
  }, 120_000);

  it('prints its version and exits 0', async () => {
    const r = await drctl(['--version']);
    expect(r).toMatchObject({ code: 0, stdout: expect.stringMatching(/^\d+\.\d+\.\d+\n$/) });
  });
});
