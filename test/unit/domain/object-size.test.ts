import { MAX_OBJECT_BYTES, oversizeProblem, type KubeObject } from '../../../shared/kube-object';
import { parseTransformRules, transformForTarget } from '../../../shared/transform';

const configMap = (bytes: number): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'big', namespace: 'shop' }, data: { blob: 'x'.repeat(bytes) } });

describe('objects near the API size limit', () => {
  it('passes an object just under the limit and names one just over it, with the fix', () => {
    expect(oversizeProblem(configMap(MAX_OBJECT_BYTES - 200))).toBeUndefined();
    expect(oversizeProblem(configMap(MAX_OBJECT_BYTES))).toMatch(
      /^ConfigMap shop\/big is 157\d{4} bytes after transforms, over the 1572864 bytes etcd stores per object by default; shrink it with a transform \(or exclude it\), or raise the target etcd's --max-request-bytes$/,
    );
  });

  it('catches an object a transform grows past the limit', () => {
    const before = configMap(MAX_OBJECT_BYTES - 100_000);
    expect(oversizeProblem(before)).toBeUndefined();
    const rules = parseTransformRules([{ annotations: { add: { note: 'y'.repeat(200_000) } } }]);
    expect(oversizeProblem(transformForTarget(before, rules).obj!)).toMatch(/ConfigMap shop\/big is \d+ bytes after transforms/);
  });
});
