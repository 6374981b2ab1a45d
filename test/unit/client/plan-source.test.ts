import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import YAML from 'yaml';
import { InvalidInputError, NotFoundError, PermissionDeniedError } from '../../../shared/errors';
import {
  contextOf,
  drPlanOfFile,
  DRPLAN_API_VERSION,
  formatDRPlanTable,
  isMissingCrd,
  kubeFailure,
  loadPlan,
  planOfDRPlan,
  summariseDRPlan,
} from '../../../client/plan-source';
import { planOfResource, type DRPlanResource } from '../../../worker/controller/plans';

const EXAMPLE = readFileSync(path.join(__dirname, '../../../examples/plan.yaml'), 'utf8');
const inNs = (ns: string) => EXAMPLE.replace(/namespace: shop\b/g, `namespace: ${ns}`).replace('namespaces: [shop]', `namespaces: [${ns}]`);
const apiError = (code: number, body: unknown) => new k8s.ApiException(code, 'failed', typeof body === 'string' ? body : JSON.stringify(body), {});

describe('drctl and DRPlan resources, the pure part', () => {
  it('makes the resource of a plan file: its name, the namespace, the spec as written (no defaults)', () => {
    const r = drPlanOfFile(inNs('apps'), 'shop', 'apps');
    expect(r).toMatchObject({ apiVersion: DRPLAN_API_VERSION, kind: 'DRPlan', metadata: { name: 'shop', namespace: 'apps' } });
    expect(r.spec).toEqual((YAML.parse(inNs('apps')) as { spec: unknown }).spec);
    expect(DRPLAN_API_VERSION).toBe('dr.temporal-dr.io/v1alpha1');
  });

  it('turns a DRPlan into the same Plan as the controller, or refuses naming the resource and the field', () => {
    const r = drPlanOfFile(inNs('apps'), 'shop', 'apps');
    const check = planOfResource(r);
    expect(check.ok).toBe(true);
    expect(planOfDRPlan(r)).toEqual(check.ok && check.plan);
    const far = drPlanOfFile(EXAMPLE, 'shop', 'apps');
    expect(() => planOfDRPlan(far)).toThrow(InvalidInputError);
    expect(() => planOfDRPlan(far)).toThrow(/DRPlan apps\/shop: it reaches outside its namespace\n  spec\.selector\.namespaces\[0\]: "shop" is not this DRPlan's namespace/);
    const bad = { ...r, spec: { ...r.spec, rpo: 'soon' } } as DRPlanResource;
    expect(() => planOfDRPlan(bad)).toThrow(/DRPlan apps\/shop: the plan is invalid\n  spec\.rpo/);
  });

  it('reads files without -n, and refuses a file name with -n before any cluster is contacted', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'plan-source-'));
    const file = path.join(dir, 'shop.yaml');
    writeFileSync(file, EXAMPLE);
    expect((await loadPlan(file, {})).metadata.name).toBe('shop');
    await expect(loadPlan(file, { namespace: 'apps' })).rejects.toThrow(/with -n\/--namespace, <plan> is the name of a DRPlan in namespace apps, not a file/);
  });

  it('tells a missing CRD from a missing object, and names namespace and verb when forbidden', () => {
    const noType = apiError(404, { kind: 'Status', status: 'Failure', message: 'the server could not find the requested resource', reason: 'NotFound', code: 404 });
    const noObject = apiError(404, { kind: 'Status', message: 'drplans.dr.temporal-dr.io "x" not found', reason: 'NotFound', details: { name: 'x', group: 'dr.temporal-dr.io', kind: 'drplans' }, code: 404 });
    expect(isMissingCrd(noType)).toBe(true);
    expect(isMissingCrd(apiError(404, '404 page not found'))).toBe(true);
    expect(isMissingCrd(noObject)).toBe(false);
    expect(isMissingCrd(apiError(403, {}))).toBe(false);
    const crd = kubeFailure(noType, 'prod', 'create', 'apps', 'shop');
    expect(crd).toBeInstanceOf(NotFoundError);
    expect(crd.message).toMatch(/DRPlan custom resource \(drplans\.dr\.temporal-dr\.io\) is not installed; install the temporal-dr Helm chart .*kubectl apply -f deploy\/helm\/temporal-dr\/crds\//);
    const forbidden = kubeFailure(apiError(403, { message: 'forbidden' }), 'prod', 'create', 'apps', 'shop');
    expect(forbidden).toBeInstanceOf(PermissionDeniedError);
    expect(forbidden.message).toMatch(/^cluster prod: forbidden to create DRPlan shop in namespace apps; grant the "create" verb on drplans\.dr\.temporal-dr\.io in namespace apps/);
  });

  it('summarises a DRPlan: Protected condition and reason, last point, schedules; unreconciled ones are Unknown', () => {
    const base = drPlanOfFile(inNs('apps'), 'shop', 'apps');
    expect(summariseDRPlan(base)).toEqual({ name: 'shop', namespace: 'apps', protected: { status: 'Unknown', reason: 'NotReconciled' }, schedules: [] });
    const done = summariseDRPlan({
      ...base,
      metadata: { ...base.metadata, generation: 3 },
      status: {
        observedGeneration: 3,
        conditions: [{ type: 'Protected', status: 'True', reason: 'Scheduled', message: 'backups on schedule dr-backup/apps/shop/u' }],
        lastPoint: { id: '20261201T030000Z-1a2b3c4d', time: '2026-12-01T03:00:00Z' },
        schedules: ['dr-backup/apps/shop/u'],
      },
    });
    expect(done).toMatchObject({ protected: { status: 'True', reason: 'Scheduled' }, lastPoint: { id: '20261201T030000Z-1a2b3c4d' }, schedules: ['dr-backup/apps/shop/u'], generation: 3, observedGeneration: 3 });
    expect(formatDRPlanTable([done, summariseDRPlan({ ...base, metadata: { ...base.metadata, name: 'b' } })]).split('\n')).toEqual([
      'NAME  PROTECTED  REASON         LAST POINT                 SCHEDULES',
      'shop  True       Scheduled      20261201T030000Z-1a2b3c4d  dr-backup/apps/shop/u',
      'b     Unknown    NotReconciled  -                          -',
    ]);
  });

  it('uses --context, else the kubeconfig\'s current context', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'plan-source-kc-'));
    const kc = path.join(dir, 'kubeconfig');
    writeFileSync(kc, YAML.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'prod',
      clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:1' } }],
      users: [{ name: 'u', user: {} }],
      contexts: [{ name: 'prod', context: { cluster: 'c', user: 'u' } }, { name: 'dr', context: { cluster: 'c', user: 'u' } }],
    }));
    expect(contextOf(undefined, { TDR_KUBECONFIG: kc })).toBe('prod');
    expect(contextOf('dr', { TDR_KUBECONFIG: kc })).toBe('dr');
    expect(() => contextOf(undefined, { TDR_KUBECONFIG: path.join(dir, 'none') })).toThrow(/cannot read the kubeconfig .*none: ENOENT; set --kubeconfig or TDR_KUBECONFIG/);
  });
});
