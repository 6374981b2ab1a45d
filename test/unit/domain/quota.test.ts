import { parseQuantity, quotaProblems } from '../../../shared/quota';
import type { KubeObject } from '../../../shared/kube-object';

const pvc = (name: string, size: string): { obj: KubeObject; resource: string } => ({
  obj: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace: 'shop' }, spec: { storageClassName: 'fast', resources: { requests: { storage: size } } } },
  resource: 'persistentvolumeclaims',
});
const cm = (name: string): { obj: KubeObject; resource: string } => ({ obj: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'shop' } }, resource: 'configmaps' });

describe('quota preflight', () => {
  it('parses quantities', () => {
    expect(parseQuantity('10Gi')).toBe(10 * 2 ** 30);
    expect(parseQuantity('500M')).toBe(5e8);
    expect(parseQuantity('3')).toBe(3);
    expect(parseQuantity(undefined)).toBe(0);
  });

  it('reports each quota key the new objects would exceed, and nothing when they fit', () => {
    const quota = { namespace: 'shop', name: 'q', hard: { persistentvolumeclaims: '2', 'requests.storage': '10Gi', configmaps: '10', 'count/configmaps': '10' }, used: { persistentvolumeclaims: '1', 'requests.storage': '4Gi', configmaps: '1' } };
    const problems = quotaProblems([pvc('a', '5Gi'), pvc('b', '2Gi'), cm('x')], [quota]);
    expect(problems).toEqual([
      'ResourceQuota shop/q: persistentvolumeclaims allows 2 (used 1) but the restore needs 2 more; raise the quota or restore fewer objects',
      'ResourceQuota shop/q: requests.storage allows 10Gi (used 4Gi) but the restore needs 7.0Gi more; raise the quota or restore fewer objects',
    ]);
    expect(quotaProblems([pvc('a', '5Gi'), cm('x')], [quota])).toEqual([]);
    expect(quotaProblems([pvc('a', '5Gi')], [{ ...quota, namespace: 'other' }])).toEqual([]);
  });
});
