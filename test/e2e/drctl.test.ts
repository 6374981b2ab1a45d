/**
 * drctl as an operator runs it, against the real stack: validate a plan, back up, list and verify
 * points from the store, dry-run and run a restore, then repair one volume with a partial restore.
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { generateMasterKey } from '../../activities/datapath/crypto';
import { uniqueId } from '../harness/temporal';
import { freshStore } from '../harness/store';
import { coreApi, freshNamespace, type TestNamespace } from '../harness/clusters';
import { startAgentProcess, startWorkerProcess, type TestProcess } from '../harness/processes';
import type { PlanStatus } from '../../client/commands/status';
import { deployShop, hashTree, NODES, pvcDir, shopPlan } from './app-fixture';
import { freePort } from '../stack/postgres';

const KEY_ENV = 'TDR_CLI_KEY';
const DRCTL = path.resolve(__dirname, '../../dist/client/drctl.js');

describe('drctl, end to end', () => {
  let ns: TestNamespace;
  let planFile: string;
  let planName: string;
  let files: Record<string, string>;
  let env: NodeJS.ProcessEnv;
  let metricsAddress: string;
  let bucket: string;
  const procs: TestProcess[] = [];
  const restored = `${uniqueId('cli-restored')}`;

  const drctl = (...args: string[]) =>
    new Promise<{ code: number; out: string }>((resolve) => {
      execFile(process.execPath, [DRCTL, ...args], { env, timeout: 300_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
      });
    });

  beforeAll(async () => {
    const taskQueue = uniqueId('cli');
    env = { ...process.env, [KEY_ENV]: generateMasterKey(), TEMPORAL_TASK_QUEUE: taskQueue };
    ns = await freshNamespace('source', 'cli');
    files = await deployShop(ns.name, 8 * 1024 * 1024);
    const { ref } = await freshStore('cli');
    bucket = ref.bucket;
    const plan = shopPlan(uniqueId('cli').toLowerCase(), ns.name, ref, KEY_ENV);
    planName = plan.metadata.name;
    planFile = path.join(process.env.TDR_TEST_STACK_DIR!, `${planName}.yaml`);
    writeFileSync(planFile, stringify({ apiVersion: plan.apiVersion, kind: plan.kind, metadata: plan.metadata, spec: { ...plan.spec, transforms: undefined } }));
    metricsAddress = `127.0.0.1:${await freePort()}`;
    procs.push(startWorkerProcess(taskQueue, { ...env, TDR_METRICS_ADDRESS: metricsAddress }), startAgentProcess('source', NODES, env), startAgentProcess('target', NODES, env));
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill()));
    await coreApi('target').deleteNamespace({ name: restored }).catch(() => undefined);
    await ns?.cleanup().catch(() => undefined);
    rmSync(planFile, { force: true });
  });

  it('validates the plan and backs it up with progress and a summary', async () => {
    const v = await drctl('plan', 'validate', planFile);
    expect(v).toMatchObject({ code: 0 });
    expect(v.out).toMatch(/is valid: 1 namespace\(s\) on context source, 1 hook\(s\)/);
    const b = await drctl('backup', planFile);
    expect(b.code).toBe(0);
    expect(b.out).toMatch(/started backup backup\//);
    expect(b.out).toMatch(new RegExp(`recovery point ${planName}/\\d{8}T\\d{6}Z-\\w+ complete`));
    expect(b.out).toMatch(/hook postgres post in db-0: ok/);
  });

  it('a second point of unchanged data uploads less than 5% of the first', async () => {
    const b = await drctl('backup', planFile);
    expect(b.code).toBe(0);
    const list = await drctl('points', 'list', planName, '--plan', planFile);
    expect(list.out.trim().split('\n').filter((l) => l.includes(' complete '))).toHaveLength(2);
    // "… N objects, 2 volume(s), X of data, Y uploaded"
    const sizes = [...b.out.matchAll(/([\d.]+) (B|KiB|MiB|GiB) of data, ([\d.]+) (B|KiB|MiB|GiB) uploaded/g)].map((m) => [toBytes(m[1], m[2]), toBytes(m[3], m[4])]);
    const [data, uploaded] = sizes[0];
    expect(uploaded).toBeLessThan(data * 0.05);
  });

  it('lists, describes and verifies points from the store alone', async () => {
    const d = await drctl('points', 'describe', `${planName}/latest`, '--plan', planFile);
    expect(d).toMatchObject({ code: 0 });
    expect(d.out).toMatch(/volume .*\/uploads \(1Gi, local-path, copy\)/);
    const v = await drctl('points', 'verify', `${planName}/latest`, '--plan', planFile, '--read-data');
    expect(v.code).toBe(0);
    expect(v.out).toMatch(/verified: \d+ objects, 2 volumes, \d+ chunks indexed, \d+ chunks read/);
    // kubectl's output formats; stdout and stderr together hold nothing but the output.
    const names = await drctl('points', 'list', planName, '--plan', planFile, '-o', 'name');
    const listed = names.out.trim().split('\n');
    expect(names.code).toBe(0);
    for (const name of listed) expect(name).toMatch(new RegExp(`^${planName}/\\d{8}T\\d{6}Z-\\w+$`));
    const asYaml = parse((await drctl('points', 'list', planName, '--plan', planFile, '-o', 'yaml')).out) as { planName: string; pointId: string; status: string }[];
    expect(asYaml.map((p) => `${p.planName}/${p.pointId}`)).toEqual(listed);
    expect(asYaml[0]).toMatchObject({ status: 'complete', verified: true }); // the key is set: every catalog was authenticated
    const asJson = JSON.parse((await drctl('points', 'describe', listed[0]!, '--plan', planFile, '-o', 'json')).out) as { pointId: string; volumes: unknown[] };
    expect(asJson).toMatchObject({ pointId: asYaml[0]!.pointId, planName });
    const wrongKey = await drctl('points', 'verify', `${planName}/latest`, '--plan', planFile, '--key-env', 'NO_SUCH_KEY_VAR');
    expect(wrongKey.code).toBe(2);
    expect(wrongKey.out).toMatch(/NO_SUCH_KEY_VAR is not set/);
  });

  it('dry-runs, restores, and repairs one volume with a partial restore', async () => {
    const args = [`${planName}/latest`, '--plan', planFile, '--to', 'target', '--namespace-map', `${ns.name}=${restored}`];
    const dry = await drctl('restore', ...args, '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.out).toMatch(/nothing was changed/);
    expect(dry.out).toMatch(/wave 1: crds/);
    expect(dry.out).toMatch(new RegExp(`StatefulSet ${restored}/db \\(from StatefulSet ${ns.name}/db\\)`));
    await expect(coreApi('target').readNamespace({ name: restored })).rejects.toMatchObject({ code: 404 });

    const r = await drctl('restore', ...args);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/RTO: start to every workload ready/);
    const dir = await pvcDir('target', restored, 'uploads');
    expect(hashTree(dir)).toEqual(files);

    // Lose a file, then bring back only that volume's data.
    const lost = Object.keys(files).find((f) => f.includes('/'))!;
    rmSync(path.join(dir, lost));
    const partial = await drctl('restore', ...args, '--volume', `${ns.name}/uploads`, '--existing', 'skip');
    expect(partial.code).toBe(0);
    expect(hashTree(dir)).toEqual(files);
  });

  it('detaches on Ctrl-C leaving the run going; runs list, watch and cancel find and follow it', async () => {
    // Ctrl-C while following a backup: exit 130, how to follow it again, and the backup goes on.
    const child = spawn(process.execPath, [DRCTL, 'backup', planFile], { env });
    let stderr = '';
    // The first progress line (on stderr) means drctl is following the run.
    const started = new Promise<void>((resolve) =>
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (/\[\w+\] point /.test(stderr)) resolve();
      }),
    );
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await started;
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    const workflowId = `backup/${planName}`;
    expect(stderr).toContain(`detached from ${workflowId}; it goes on. Follow it again: drctl runs watch ${workflowId}`);
    const running = JSON.parse((await drctl('runs', 'list', '--plan', planName, '--running', '-o', 'json')).out) as { workflowId: string; operation: string; status: string }[];
    expect(running).toEqual([expect.objectContaining({ workflowId, operation: 'backup', status: 'RUNNING' })]);
    const watched = await drctl('runs', 'watch', workflowId);
    expect(watched).toMatchObject({ code: 0, out: expect.stringContaining(`${workflowId}: completed`) });
    const described = JSON.parse((await drctl('runs', 'describe', workflowId, '-o', 'json')).out) as { status: string; plan: string; phase: string };
    expect(described).toMatchObject({ status: 'COMPLETED', plan: planName, phase: 'Done' });

    // A run cancelled from drctl ends CANCELLED, and watching it exits 5.
    expect((await drctl('backup', planFile, '--no-wait')).code).toBe(0);
    const cancel = await drctl('runs', 'cancel', workflowId);
    expect(cancel).toMatchObject({ code: 0, out: expect.stringContaining(`cancellation requested for ${workflowId}`) });
    const afterCancel = await drctl('runs', 'watch', workflowId);
    expect(afterCancel).toMatchObject({ code: 5, out: expect.stringContaining(`drctl: backup ${workflowId} was cancelled (workflow ${workflowId})`) });
    expect(await drctl('runs', 'cancel', workflowId)).toMatchObject({ code: 2, out: expect.stringContaining('is not running (CANCELLED); nothing to cancel') });
    expect(await drctl('runs', 'describe', 'backup/no-such-plan')).toMatchObject({ code: 3 });

    // drctl status: the plan's newest point (the backup watched above), nothing running, no replication.
    const status = JSON.parse((await drctl('status', planName, '-o', 'json')).out) as PlanStatus[];
    const newest = (JSON.parse((await drctl('points', 'list', planName, '--plan', planFile, '-o', 'json')).out) as { pointId: string; status: string }[]).find((p) => p.status === 'complete')!;
    expect(status).toEqual([{ plan: planName, lastPoint: expect.objectContaining({ pointId: newest.pointId }), replication: [], running: [] }]);
    expect(status[0]!.lastPoint!.ageMs).toBeGreaterThan(0);
  });

  it('runs the README\'s walkthrough as written, on this test\'s plan: every command succeeds and shows the plan', async () => {
    const readme = readFileSync(path.join(__dirname, '../../README.md'), 'utf8');
    const block = /Then, in the same shell:\n\n```sh\n([\s\S]*?)```/.exec(readme)![1]!;
    const lines = block
      .replace(/\\\n\s*/g, '') // continuation lines
      .split('\n')
      .map((l) => l.replace(/\s+#\s.*$/, '').trim())
      .filter((l) => l && !l.startsWith('source ') && !l.startsWith('npm run ')); // the persistent stack's own commands
    expect(lines.length).toBeGreaterThanOrEqual(8);
    const ours = (l: string) =>
      l
        .replaceAll('.stack/shop-plan.yaml', planFile)
        .replaceAll('shop/latest', `${planName}/latest`)
        .replace(/--plan shop\b/g, `--plan ${planName}`)
        .replace('shop=shop-restored', `${ns.name}=${restored}-readme`);
    const out: Record<string, string> = {};
    for (const line of lines.map(ours)) {
      const r = await new Promise<{ code: number; out: string }>((resolve) =>
        execFile('bash', ['-c', line], { cwd: path.join(__dirname, '../..'), env: { ...env, TDR_METRICS_WORKER: metricsAddress, S3_BUCKET: bucket }, timeout: 300_000 }, (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
        ),
      );
      expect({ line, code: r.code }).toEqual({ line, code: 0 });
      out[line.split(' ').slice(0, 4).join(' ')] = r.out;
    }
    const said = (start: string) => Object.entries(out).find(([k]) => k.startsWith(start))![1];
    expect(said('node dist/client/drctl.js backup')).toMatch(new RegExp(`recovery point ${planName}/\\S+ complete`));
    expect(said('node dist/client/drctl.js runs list')).toContain(`backup/${planName}`);
    const status = JSON.parse(said('node dist/client/drctl.js status')) as PlanStatus[];
    expect(status.find((p) => p.plan === planName)?.lastPoint?.pointId).toMatch(/^\d{8}T\d{6}Z-/);
    expect(said('curl')).toMatch(new RegExp(`^dr_runs_total\\{[^}]*operation="backup"[^}]*plan="${planName}"`, 'm'));
  }, 600_000);

  it('rejects bad input with one line naming the field', async () => {
    const bad = await drctl('restore', 'no-slash', '--to', 'target');
    expect(bad.code).toBe(2);
    expect(bad.out.trim()).toMatch(/^drctl: point: give it as <plan>\/<point-id> or <plan>\/latest/);
    const policy = await drctl('restore', `${planName}/latest`, '--to', 'target', '--existing', 'merge');
    expect(policy.out.trim()).toMatch(/^drctl: --existing: expected skip, update or fail/);
  });
});

function toBytes(n: string, unit: string): number {
  return Number(n) * { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 }[unit as 'B']!;
}
