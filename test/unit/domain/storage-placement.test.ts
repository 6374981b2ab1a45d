import { helperPlacementFor, HELPER_GROUP_LABEL } from '../../../shared/helper-placement';
import { mapStorageClassInPlace, storageClassOf, BETA_STORAGE_CLASS_ANNOTATION } from '../../../shared/storage-class';
import { transformForTarget } from '../../../shared/transform';
import { objectReferences } from '../../../shared/references';
import type { KubeObject } from '../../../shared/kube-object';

const statefulSet = (over: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'StatefulSet',
  metadata: { name: 'kv', namespace: 'app' },
  spec: {
    serviceName: 'kv',
    replicas: 3,
    selector: { matchLabels: { app: 'kv' } },
    template: {
      metadata: { labels: { app: 'kv', tier: 'data' } },
      spec: {
        containers: [{ name: 'kv', image: 'kv:1' }],
        tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'data', effect: 'NoSchedule' }],
        nodeSelector: { 'kubernetes.io/os': 'linux' },
        affinity: {
          nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'Exists' }] }] } },
          podAntiAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: [
              { labelSelector: { matchLabels: { app: 'kv' } }, topologyKey: 'kubernetes.io/hostname' },
              { labelSelector: { matchLabels: { app: 'other' } }, topologyKey: 'kubernetes.io/hostname' },
            ],
          },
        },
        topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'kv' } }, matchLabelKeys: ['pod-template-hash'] }],
      },
    },
    volumeClaimTemplates: [{ metadata: { name: 'data', annotations: { [BETA_STORAGE_CLASS_ANNOTATION]: 'csi-disk' } }, spec: { accessModes: ['ReadWriteOnce'] } }],
    ...over,
  },
});

describe('helperPlacementFor', () => {
  it('gives a StatefulSet claim\'s helper the workload\'s constraints, its own anti-affinity turned onto the helpers', () => {
    const p = helperPlacementFor([statefulSet()], 'app', 'data-kv-2')!;
    const group = p.labels[HELPER_GROUP_LABEL];
    expect(group).toMatch(/^statefulset-[0-9a-f]{8}$/);
    expect(p.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' });
    expect(p.tolerations).toHaveLength(1);
    expect(p.affinity).toEqual({
      nodeAffinity: statefulSet().spec && (statefulSet().spec as never as { template: { spec: { affinity: { nodeAffinity: unknown } } } }).template.spec.affinity.nodeAffinity,
      // the term selecting another application is dropped: its pods may not exist yet
      podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { [HELPER_GROUP_LABEL]: group } }, topologyKey: 'kubernetes.io/hostname' }] },
    });
    expect(p.topologySpreadConstraints).toEqual([{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { [HELPER_GROUP_LABEL]: group } } }]);
  });

  it('finds the Deployment that mounts a standalone claim, and nothing for a claim nobody mounts', () => {
    const deploy: KubeObject = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'app' },
      spec: { template: { metadata: { labels: { app: 'web' } }, spec: { nodeSelector: { disk: 'ssd' }, containers: [], volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'uploads' } }] } } },
    };
    expect(helperPlacementFor([statefulSet(), deploy], 'app', 'uploads')).toEqual({ labels: { [HELPER_GROUP_LABEL]: expect.stringMatching(/^deployment-/) }, nodeSelector: { disk: 'ssd' } });
    expect(helperPlacementFor([statefulSet(), deploy], 'app', 'orphan')).toBeUndefined();
    expect(helperPlacementFor([statefulSet(), deploy], 'other', 'uploads')).toBeUndefined();
    // data-kv-x is not an ordinal of kv
    expect(helperPlacementFor([statefulSet()], 'app', 'data-kv-x')).toBeUndefined();
  });
});

describe('storage classes named by the beta annotation', () => {
  const claim = (annotation?: string, field?: string): KubeObject => ({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: 'c', namespace: 'app', ...(annotation ? { annotations: { [BETA_STORAGE_CLASS_ANNOTATION]: annotation } } : {}) },
    spec: { ...(field ? { storageClassName: field } : {}) },
  });

  it('reads the annotation first, as Kubernetes does', () => {
    expect(storageClassOf(claim('old', 'new') as never)).toBe('old');
    expect(storageClassOf(claim(undefined, 'new') as never)).toBe('new');
    expect(storageClassOf(claim() as never)).toBeUndefined();
  });

  it('maps annotation and field alike, on claims, volumes and claim templates', () => {
    const c = claim('csi-disk', 'csi-disk');
    mapStorageClassInPlace(c as never, { 'csi-disk': 'local-path' });
    expect(c.metadata.annotations![BETA_STORAGE_CLASS_ANNOTATION]).toBe('local-path');
    expect((c.spec as { storageClassName: string }).storageClassName).toBe('local-path');
    const { obj } = transformForTarget(statefulSet(), [{ name: 'classes', storageClassMapping: { 'csi-disk': 'csi-disk-b' } }] as never);
    const tpl = (obj!.spec as { volumeClaimTemplates: { metadata: { annotations: Record<string, string> } }[] }).volumeClaimTemplates[0];
    expect(tpl.metadata.annotations[BETA_STORAGE_CLASS_ANNOTATION]).toBe('csi-disk-b');
  });

  it('follows the annotation and claim templates to the StorageClass', () => {
    const refs = (o: KubeObject) => objectReferences(o).map((r) => `${r.kind}/${r.name}`);
    expect(refs(claim('fast'))).toContain('StorageClass/fast');
    expect(refs(statefulSet())).toContain('StorageClass/csi-disk');
  });
});
