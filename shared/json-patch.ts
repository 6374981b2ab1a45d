import { cloneJson, isObject } from './kube-object';

/** One RFC 6902 operation. */
export type JsonPatchOperation =
  | { op: 'add' | 'replace' | 'test'; path: string; value: unknown }
  | { op: 'remove'; path: string }
  | { op: 'move' | 'copy'; from: string; path: string };

/** A patch could not be applied; `index` is the failing operation. The document is left unchanged. */
export class JsonPatchError extends Error {
  constructor(
    message: string,
    readonly index: number,
    readonly testFailed = false,
  ) {
    super(message);
    this.name = 'JsonPatchError';
  }
}

/** True when `pointer` is an RFC 6901 JSON pointer (`` or `/a/b~1c/0`), with only ~0/~1 escapes. */
export const isJsonPointer = (pointer: string): boolean => /^(\/([^~/]|~[01])*)*$/.test(pointer);

export const parseJsonPointer = (pointer: string): string[] =>
  pointer === '' ? [] : pointer.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));

type Container = Record<string, unknown> | unknown[];

/** Sets an own member, so keys such as `__proto__` are data rather than the object's prototype. */
const setMember = (target: Record<string, unknown>, key: string, value: unknown): void => {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
};

const ARRAY_INDEX = /^(0|[1-9]\d*)$/;

function resolveParent(doc: unknown, tokens: string[], pointer: string): { parent: Container; key: string } {
  let node = doc;
  for (const token of tokens.slice(0, -1)) {
    if (Array.isArray(node) && ARRAY_INDEX.test(token) && Number(token) < node.length) node = node[Number(token)];
    else if (isObject(node) && Object.prototype.hasOwnProperty.call(node, token)) node = node[token];
    else throw new Error(`path ${pointer} does not exist`);
  }
  if (!Array.isArray(node) && !isObject(node)) throw new Error(`path ${pointer} does not exist`);
  return { parent: node, key: tokens[tokens.length - 1] };
}

function getValue(doc: unknown, pointer: string): unknown {
  let node = doc;
  for (const token of parseJsonPointer(pointer)) {
    if (Array.isArray(node) && ARRAY_INDEX.test(token) && Number(token) < node.length) node = node[Number(token)];
    else if (isObject(node) && Object.prototype.hasOwnProperty.call(node, token)) node = node[token];
    else throw new Error(`path ${pointer} does not exist`);
  }
  return node;
}

function addValue(doc: unknown, pointer: string, value: unknown): unknown {
  const tokens = parseJsonPointer(pointer);
  if (tokens.length === 0) return value;
  const { parent, key } = resolveParent(doc, tokens, pointer);
  if (Array.isArray(parent)) {
    const index = key === '-' ? parent.length : ARRAY_INDEX.test(key) ? Number(key) : NaN;
    if (!(index >= 0 && index <= parent.length)) throw new Error(`path ${pointer}: index out of range`);
    parent.splice(index, 0, value);
  } else {
    setMember(parent, key, value);
  }
  return doc;
}

function removeValue(doc: unknown, pointer: string): unknown {
  const tokens = parseJsonPointer(pointer);
  if (tokens.length === 0) throw new Error('cannot remove the whole document');
  const { parent, key } = resolveParent(doc, tokens, pointer);
  if (Array.isArray(parent)) {
    if (!ARRAY_INDEX.test(key) || Number(key) >= parent.length) throw new Error(`path ${pointer} does not exist`);
    return parent.splice(Number(key), 1)[0];
  }
  if (!Object.prototype.hasOwnProperty.call(parent, key)) throw new Error(`path ${pointer} does not exist`);
  const removed = parent[key];
  delete parent[key];
  return removed;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => deepEqual(v, b[i]));
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

/**
 * Applies an RFC 6902 patch atomically: returns a new document, or throws JsonPatchError and the
 * input is untouched. A failed `test` sets `testFailed`, so callers can treat it as "rule does not apply".
 */
export function applyJsonPatch<T>(document: T, patch: readonly JsonPatchOperation[]): T {
  let doc: unknown = cloneJson(document);
  patch.forEach((op, index) => {
    try {
      switch (op.op) {
        case 'add':
          doc = addValue(doc, op.path, cloneJson(op.value));
          break;
        case 'remove':
          removeValue(doc, op.path);
          break;
        case 'replace':
          if (op.path === '') doc = cloneJson(op.value);
          else {
            removeValue(doc, op.path);
            doc = addValue(doc, op.path, cloneJson(op.value));
          }
          break;
        case 'move': {
          if (op.path.startsWith(op.from + '/')) throw new Error(`cannot move ${op.from} into its own child ${op.path}`);
          if (op.path === op.from) break;
          const value = removeValue(doc, op.from);
          doc = addValue(doc, op.path, value);
          break;
        }
        case 'copy':
          doc = addValue(doc, op.path, cloneJson(getValue(doc, op.from)));
          break;
        case 'test':
          if (!deepEqual(getValue(doc, op.path), op.value)) throw new JsonPatchError(`test at ${op.path} failed`, index, true);
          break;
      }
    } catch (err) {
      if (err instanceof JsonPatchError) throw err;
      throw new JsonPatchError(`${op.op}: ${(err as Error).message}`, index);
    }
  });
  return doc as T;
}

/** RFC 7386 JSON merge patch: objects merge, `null` deletes, anything else replaces. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return cloneJson(patch);
  const result: Record<string, unknown> = isObject(target) ? cloneJson(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else setMember(result, key, applyMergePatch(Object.prototype.hasOwnProperty.call(result, key) ? result[key] : undefined, value));
  }
  return result;
}
