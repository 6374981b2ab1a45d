import fc from 'fast-check';
import { applyJsonPatch, applyMergePatch, isJsonPointer, JsonPatchError, parseJsonPointer, type JsonPatchOperation } from '../../../shared/json-patch';

const encodePointer = (tokens: string[]) => tokens.map((t) => `/${t.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
const token = fc.oneof(fc.string({ maxLength: 6 }), fc.nat(4).map(String), fc.constantFrom('-', '~', '/', '__proto__', 'constructor'));
const pointer = fc.array(token, { maxLength: 4 }).map(encodePointer);
const json = fc.jsonValue({ maxDepth: 4 });
const object = fc.dictionary(fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('__proto__', 'constructor')), json, { maxKeys: 5 });

/** Pointers to every member of a document, so patches hit existing paths as often as missing ones. */
function pointersInto(doc: unknown, prefix: string[] = []): string[] {
  const here = [encodePointer(prefix)];
  if (Array.isArray(doc)) return here.concat(doc.flatMap((v, i) => pointersInto(v, [...prefix, String(i)])));
  if (doc && typeof doc === 'object') return here.concat(Object.entries(doc).flatMap(([k, v]) => pointersInto(v, [...prefix, k])));
  return here;
}

const operation = (paths: fc.Arbitrary<string>): fc.Arbitrary<JsonPatchOperation> =>
  fc.oneof(
    fc.record({ op: fc.constantFrom('add' as const, 'replace' as const, 'test' as const), path: paths, value: json }),
    fc.record({ op: fc.constant('remove' as const), path: paths }),
    fc.record({ op: fc.constantFrom('move' as const, 'copy' as const), from: paths, path: paths }),
  );

const docAndPatch = json.chain((doc) => {
  const paths = fc.oneof(fc.constantFrom(...pointersInto(doc)), pointer);
  return fc.tuple(fc.constant(doc), fc.array(operation(paths), { minLength: 1, maxLength: 4 }));
});

/** JSON has no -0: documents are compared as they travel, through a JSON round trip. */
const plain = (v: unknown): unknown => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));

/** The value a pointer names, following own members only. */
function at(doc: unknown, p: string): unknown {
  let node = doc;
  for (const t of parseJsonPointer(p)) node = Array.isArray(node) ? node[Number(t)] : Object.hasOwn(node as object, t) ? (node as Record<string, unknown>)[t] : undefined;
  return node;
}

describe('JSON Patch (RFC 6902)', () => {
  test('applies or fails with JsonPatchError naming the operation; the input is never modified', () => {
    fc.assert(
      fc.property(docAndPatch, ([doc, patch]) => {
        const before = JSON.stringify(doc);
        try {
          applyJsonPatch(doc, patch);
        } catch (err) {
          expect(err).toBeInstanceOf(JsonPatchError);
          expect((err as JsonPatchError).index).toBeGreaterThanOrEqual(0);
          expect((err as JsonPatchError).index).toBeLessThan(patch.length);
          expect((err as Error).message).toMatch(new RegExp(`^(${patch[(err as JsonPatchError).index]!.op}: |test at )`));
        }
        expect(JSON.stringify(doc)).toBe(before);
      }),
      { numRuns: 500 },
    );
  });

  test('add of a new member, then test, then remove: the value is there, matches, and removing it restores the document', () => {
    const case_ = object.chain((doc) =>
      fc.tuple(fc.constant(doc), fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('__proto__', 'constructor')).filter((k) => !Object.hasOwn(doc, k)), json),
    );
    fc.assert(
      fc.property(case_, ([doc, key, value]) => {
        const path = encodePointer([key]);
        const added = applyJsonPatch(doc, [{ op: 'add', path, value }]);
        expect(Object.hasOwn(added, key)).toBe(true);
        expect(at(added, path)).toEqual(plain(value));
        expect(() => applyJsonPatch(added, [{ op: 'test', path, value }])).not.toThrow();
        expect(applyJsonPatch(added, [{ op: 'remove', path }])).toEqual(plain(doc));
      }),
      { numRuns: 300 },
    );
  });

  test('copy makes an equal, independent value; move then move back restores the document', () => {
    const case_ = object
      .filter((doc) => Object.keys(doc).length > 0)
      .chain((doc) => fc.tuple(fc.constant(doc), fc.constantFrom(...Object.keys(doc)), fc.string({ maxLength: 6 }).filter((k) => !Object.hasOwn(doc, k))));
    fc.assert(
      fc.property(case_, ([doc, from, to]) => {
        const [f, t] = [encodePointer([from]), encodePointer([to])];
        const copied = applyJsonPatch(doc, [{ op: 'copy', from: f, path: t }]);
        expect(at(copied, t)).toEqual(plain(at(doc, f)));
        expect(applyJsonPatch(applyJsonPatch(doc, [{ op: 'move', from: f, path: t }]), [{ op: 'move', from: t, path: f }])).toEqual(plain(doc));
      }),
      { numRuns: 300 },
    );
  });

  test('replace of the whole document returns the value', () => {
    fc.assert(
      fc.property(json, json, (doc, value) => expect(applyJsonPatch(doc, [{ op: 'replace', path: '', value }])).toEqual(plain(value))),
      { numRuns: 200 },
    );
  });

  test('JSON pointers: every encoded token list is a pointer and parses back to its tokens', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 8 }), { maxLength: 5 }), (tokens) => {
        const p = encodePointer(tokens);
        expect(isJsonPointer(p)).toBe(true);
        expect(parseJsonPointer(p)).toEqual(tokens);
      }),
      { numRuns: 500 },
    );
  });

  test('isJsonPointer answers in linear time on pointers that make a backtracking regex explode', () => {
    fc.assert(
      fc.property(fc.integer({ min: 30, max: 5000 }), fc.constantFrom('~', '~2', 'x~'), (slashes, tail) => {
        const started = process.hrtime.bigint();
        expect(isJsonPointer('/'.repeat(slashes) + tail)).toBe(false);
        expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(250);
      }),
      { numRuns: 50 },
    );
  });
});

describe('JSON merge patch (RFC 7386)', () => {
  test('is idempotent, leaves no patched key that was null, and never modifies its inputs', () => {
    fc.assert(
      fc.property(json, object, (target, patch) => {
        const [t, p] = [JSON.stringify(target), JSON.stringify(patch)];
        const once = applyMergePatch(target, patch);
        expect(plain(applyMergePatch(once, patch))).toEqual(plain(once));
        for (const [key, value] of Object.entries(patch)) {
          if (value === null) expect(Object.hasOwn(once as object, key)).toBe(false);
          else expect(Object.hasOwn(once as object, key)).toBe(true);
        }
        expect([JSON.stringify(target), JSON.stringify(patch)]).toEqual([t, p]);
      }),
      { numRuns: 500 },
    );
  });

  test('an empty patch keeps an object as it is', () => {
    fc.assert(
      fc.property(object, (target) => expect(applyMergePatch(target, {})).toEqual(plain(target))),
      { numRuns: 200 },
    );
  });
});
