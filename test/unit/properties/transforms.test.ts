import fc from 'fast-check';
import { InvalidInputError } from '../../../shared/errors';
import type { KubeObject } from '../../../shared/kube-object';
import { parseTransformRules, stripClusterState, transformForTarget } from '../../../shared/transform';
import { dnsLabel, kubeObject, PROTOTYPE_NAMES, transformRule } from './arbitraries';

const rules = fc.array(transformRule, { maxLength: 4 }).map((r) => parseTransformRules(r));
const objects = kubeObject();

describe('restore transforms', () => {
  test('any object under any valid rules is transformed or refused with an InvalidInputError naming the rule and object; never a crash', () => {
    fc.assert(
      fc.property(objects, rules, (obj, r) => {
        const before = JSON.stringify(obj);
        try {
          const { obj: out, applied } = transformForTarget(obj, r);
          expect(applied.every((line) => /^transforms\[\d+\]/.test(line))).toBe(true);
          if (out) expect(out.metadata.name).toEqual(expect.any(String));
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidInputError);
          expect((err as Error).message).toMatch(/^transform rule \d+ cannot apply to \S+ \S+\n {2}transforms\[\d+\]\.jsonPatch\[\d+\]: /);
        }
        expect(JSON.stringify(obj)).toBe(before);
      }),
      { numRuns: 300 },
    );
  });

  test('the output carries no source cluster state, and stripping is idempotent', () => {
    fc.assert(
      fc.property(objects, (obj) => {
        const stripped = stripClusterState(obj);
        if (!stripped) return;
        expect(stripped.status).toBeUndefined();
        for (const field of ['uid', 'resourceVersion', 'managedFields', 'ownerReferences', 'creationTimestamp']) expect(stripped.metadata[field]).toBeUndefined();
        expect(stripClusterState(stripped)).toEqual(stripped);
        expect(transformForTarget(obj, []).obj).toEqual(stripped);
      }),
      { numRuns: 300 },
    );
  });

  test('rules that do not match leave the object as stripping left it, and report nothing applied', () => {
    fc.assert(
      fc.property(objects, rules, (obj, r) => {
        const unmatched = r.filter((rule) => !rule.namespaceMapping).map((rule) => ({ ...rule, match: { namespaces: ['no-such-namespace-*'] } }));
        expect(transformForTarget(obj, unmatched)).toEqual({ obj: stripClusterState(obj), applied: [] });
      }),
      { numRuns: 200 },
    );
  });

  test('a labels rule leaves every added label on the object', () => {
    fc.assert(
      fc.property(objects, fc.dictionary(dnsLabel, dnsLabel, { minKeys: 1, maxKeys: 3 }), (obj, add) => {
        const out = transformForTarget(obj, parseTransformRules([{ labels: { add } }])).obj as KubeObject;
        expect(out.metadata.labels).toEqual(expect.objectContaining(add));
      }),
      { numRuns: 200 },
    );
  });

  test('a namespace mapping moves mapped namespaces and keeps the others', () => {
    const names = dnsLabel.filter((n) => !(PROTOTYPE_NAMES as readonly string[]).includes(n));
    fc.assert(
      fc.property(kubeObject(names), fc.dictionary(names, names, { minKeys: 1, maxKeys: 3 }), (obj, mapping) => {
        const out = transformForTarget(obj, parseTransformRules([{ namespaceMapping: mapping }])).obj as KubeObject;
        const ns = obj.metadata.namespace!;
        expect(out.metadata.namespace).toBe(Object.hasOwn(mapping, ns) ? mapping[ns] : ns);
      }),
      { numRuns: 200 },
    );
  });

  // Mappings are looked up as own keys only: with `mapping[ns]`, a namespace "constructor" became
  // Object, which JSON drops, and the object went to the target's default namespace.
  test('a namespace mapping keeps an object in a namespace named like an Object.prototype member', () => {
    const obj: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'constructor' } };
    const out = transformForTarget(obj, parseTransformRules([{ namespaceMapping: { shop: 'shop-b' } }])).obj as KubeObject;
    expect(out.metadata.namespace).toBe('constructor');
  });

  test('a storage class mapping keeps a class named like an Object.prototype member', () => {
    const pvc: KubeObject = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data', namespace: 'shop' }, spec: { storageClassName: 'toString' } };
    const out = transformForTarget(pvc, parseTransformRules([{ storageClassMapping: { fast: 'slow' } }])).obj as KubeObject;
    expect(out.spec).toEqual({ storageClassName: 'toString' });
  });
});
