/**
 * Discovery lists every object of a kind, however many pages it takes (500 per page), for
 * built-in kinds and for custom resources alike. client-node hands back custom resources' lists
 * untyped, with the continue token under `metadata.continue` rather than `_continue`; reading
 * only the latter once stopped every custom-resource list at its first page, so a backup of a
 * namespace holding more than 500 of one custom kind silently left the rest out (found by B6).
 * On the real "source" API server.
 */
import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { connectCluster } from '../../activities/kube/cluster';
import { discoverApplication } from '../../activities/discovery/discover-application';
import { mapLimit } from '../../activities/util/concurrency';
import { freshNamespace, kubeConfigFor, objectApi, waitFor, type TestNamespace } from '../harness/clusters';

const CUSTOM = 1_234;
const CONFIG_MAPS = 620;

describe('discovery of a namespace with more than one page of a kind', () => {
  const group = `paging-${randomBytes(3).toString('hex')}.test.temporal-dr.local`;
  const crdName = `widgets.${group}`;
  let ns: TestNamespace;
  const ext = () => kubeConfigFor('source').makeApiClient(k8s.ApiextensionsV1Api);

  beforeAll(async () => {
    ns = await freshNamespace('source', 'paging');
    await ext().createCustomResourceDefinition({
      body: {
        metadata: { name: crdName },
        spec: {
          group,
          scope: 'Namespaced',
          names: { kind: 'Widget', plural: 'widgets', singular: 'widget', listKind: 'WidgetList' },
          versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', x_kubernetes_preserve_unknown_fields: true } } }],
        },
      },
    });
    await waitFor(`CRD ${crdName} established`, 60_000, async () => {
      const crd = await ext().readCustomResourceDefinition({ name: crdName });
      return !!crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
    });
    const api = objectApi('source');
    const objects: k8s.KubernetesObject[] = [
      ...Array.from({ length: CUSTOM }, (_, i) => ({ apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: `w-${i}`, namespace: ns.name }, spec: { i } }) as k8s.KubernetesObject),
      ...Array.from({ length: CONFIG_MAPS }, (_, i) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${i}`, namespace: ns.name }, data: { i: String(i) } }) as k8s.KubernetesObject),
    ];
    await mapLimit(objects, 16, (o) => api.create(o));
  }, 300_000);

  afterAll(async () => {
    await ns?.cleanup().catch(() => undefined);
    await ext().deleteCustomResourceDefinition({ name: crdName }).catch(() => undefined);
  });

  it(`finds all ${CUSTOM} custom resources and all ${CONFIG_MAPS} ConfigMaps, each listed over several pages`, async () => {
    const app = await discoverApplication(connectCluster('source'), { namespaces: [ns.name] });
    const names = (kind: string) => app.objects.filter((o) => o.kind === kind).map((o) => o.metadata.name);
    expect(names('Widget')).toHaveLength(CUSTOM);
    expect(new Set(names('Widget'))).toEqual(new Set(Array.from({ length: CUSTOM }, (_, i) => `w-${i}`)));
    expect(names('ConfigMap').filter((n) => n.startsWith('cm-'))).toHaveLength(CONFIG_MAPS);
  }, 120_000);
});
