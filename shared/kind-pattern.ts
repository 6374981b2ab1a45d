import { groupOf, guessResource } from './kube-object';

/**
 * Names a kind the way operators write it:
 * - `Secret`, `Deployment`: the kind, in any API group;
 * - `apps/Deployment`, `core/Secret`: kind in one group (`core` is the core group);
 * - `secrets`, `deployments.apps`, `widgets.example.com`: resource plural, optionally with group.
 */
export const KIND_PATTERN = /^(([a-z0-9][a-z0-9.-]*\/)?[A-Z][A-Za-z0-9]*|[a-z][a-z0-9-]*(\.[a-z0-9][a-z0-9.-]*)?)$/;
export const KIND_PATTERN_HINT = 'expected a kind like Secret, apps/Deployment or widgets.example.com';

export interface KindOf {
  apiVersion: string;
  kind: string;
  /** The resource plural from discovery, when known. */
  resource?: string;
}

export function matchesKindPattern(pattern: string, object: KindOf): boolean {
  const group = groupOf(object.apiVersion);
  if (pattern.includes('/')) {
    const [patternGroup, kind] = pattern.split('/');
    return kind === object.kind && (patternGroup === 'core' ? '' : patternGroup) === group;
  }
  if (/^[A-Z]/.test(pattern)) return pattern === object.kind;
  const dot = pattern.indexOf('.');
  const resource = object.resource ?? guessResource(object.kind);
  if (dot < 0) return pattern === resource;
  return pattern.slice(0, dot) === resource && pattern.slice(dot + 1) === group;
}

export const matchesAnyKindPattern = (patterns: readonly string[], object: KindOf): boolean =>
  patterns.some((p) => matchesKindPattern(p, object));
