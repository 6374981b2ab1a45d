import { z } from 'zod';
import { isJsonPointer } from './json-patch';
import { KIND_PATTERN, KIND_PATTERN_HINT } from './kind-pattern';
import { labelSelectorSchema } from './label-selector';
import { validateOrThrow } from './validation-issues';

export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
export const DNS_LABEL_HINT = 'expected a DNS-1123 label: lowercase letters, digits and -, at most 63 characters';

export const dnsLabelSchema = z.string().regex(DNS_LABEL, { error: DNS_LABEL_HINT });
export const kindPatternSchema = z.string().regex(KIND_PATTERN, { error: KIND_PATTERN_HINT });

/** Which objects a rule touches; every given field must match (globs for names and namespaces). */
export const objectMatchSchema = z.strictObject({
  kinds: z.array(kindPatternSchema).min(1).optional(),
  names: z.array(z.string().min(1)).min(1).optional(),
  namespaces: z.array(z.string().min(1)).min(1).optional(),
  labelSelector: labelSelectorSchema.optional(),
});
export type ObjectMatch = z.output<typeof objectMatchSchema>;

const JSON_POINTER_HINT = 'expected a JSON pointer like /spec/replicas';

export const jsonPatchOperationSchema = z
  .strictObject({
    op: z.enum(['add', 'remove', 'replace', 'move', 'copy', 'test']),
    path: z.string(),
    from: z.string().optional(),
    value: z.unknown().optional(),
  })
  .superRefine((op, ctx) => {
    if (!isJsonPointer(op.path)) ctx.addIssue({ code: 'custom', path: ['path'], message: JSON_POINTER_HINT });
    const needsFrom = op.op === 'move' || op.op === 'copy';
    if (needsFrom && op.from === undefined) ctx.addIssue({ code: 'custom', path: ['from'], message: `required for op ${op.op}` });
    if (needsFrom && op.from !== undefined && !isJsonPointer(op.from)) ctx.addIssue({ code: 'custom', path: ['from'], message: JSON_POINTER_HINT });
    if (!needsFrom && op.from !== undefined) ctx.addIssue({ code: 'custom', path: ['from'], message: `not used by op ${op.op}` });
    const needsValue = op.op === 'add' || op.op === 'replace' || op.op === 'test';
    if (needsValue && op.value === undefined) ctx.addIssue({ code: 'custom', path: ['value'], message: `required for op ${op.op}` });
    if (!needsValue && op.value !== undefined) ctx.addIssue({ code: 'custom', path: ['value'], message: `not used by op ${op.op}` });
  });

const labelEditSchema = z.strictObject({
  add: z.record(z.string(), z.string()).optional(),
  remove: z.array(z.string().min(1)).optional(),
});

/** The mutually exclusive things a rule can do; each rule does exactly one. */
export const TRANSFORM_ACTIONS = [
  'namespaceMapping',
  'storageClassMapping',
  'imageRegistry',
  'replicas',
  'labels',
  'annotations',
  'ingressHosts',
  'jsonPatch',
  'mergePatch',
] as const;
export type TransformAction = (typeof TRANSFORM_ACTIONS)[number];

/**
 * One restore transform. Rules run in list order; `match` is tested against the object as it was
 * in the backup, so a namespace mapping earlier in the list does not change what later rules match.
 */
export const transformRuleSchema = z
  .strictObject({
    name: z.string().min(1).optional(),
    match: objectMatchSchema.optional(),
    /** Source namespace -> target namespace, for the objects and the references that follow them. */
    namespaceMapping: z.record(dnsLabelSchema, dnsLabelSchema).optional(),
    /** Source StorageClass -> target StorageClass (PVCs, PVs, StatefulSet claim templates). */
    storageClassMapping: z.record(z.string().min(1), z.string().min(1)).optional(),
    /** Image prefix rewrite, e.g. from `registry.example.com/` to `mirror.local/`. */
    imageRegistry: z.strictObject({ from: z.string().min(1), to: z.string() }).optional(),
    /** Replica count for Deployments, StatefulSets and ReplicaSets that match. */
    replicas: z.number().int().min(0).optional(),
    labels: labelEditSchema.optional(),
    annotations: labelEditSchema.optional(),
    /** Ingress host rewrite: an exact map first, then a suffix swap. */
    ingressHosts: z
      .strictObject({
        map: z.record(z.string().min(1), z.string().min(1)).optional(),
        suffix: z.strictObject({ from: z.string().min(1), to: z.string() }).optional(),
      })
      .refine((h) => h.map !== undefined || h.suffix !== undefined, { error: 'set map or suffix' })
      .optional(),
    jsonPatch: z.array(jsonPatchOperationSchema).min(1).optional(),
    mergePatch: z.record(z.string(), z.unknown()).optional(),
  })
  .superRefine((rule, ctx) => {
    const actions = TRANSFORM_ACTIONS.filter((a) => rule[a] !== undefined);
    if (actions.length === 0) ctx.addIssue({ code: 'custom', path: [], message: `set one of ${TRANSFORM_ACTIONS.join(', ')}` });
    if (actions.length > 1) ctx.addIssue({ code: 'custom', path: [], message: `a rule does one thing; split ${actions.join(' and ')} into separate rules` });
    if (rule.namespaceMapping && rule.match)
      ctx.addIssue({ code: 'custom', path: ['match'], message: 'namespaceMapping applies to every object; remove match' });
  });
export type TransformRule = z.output<typeof transformRuleSchema>;

export const transformRulesSchema = z.array(transformRuleSchema);

export const actionOf = (rule: TransformRule): TransformAction => TRANSFORM_ACTIONS.find((a) => rule[a] !== undefined)!;

/** Validates transform rules given outside a plan (a restore's options); issue paths start at `pathPrefix`. */
export const parseTransformRules = (input: unknown, pathPrefix = 'transforms'): TransformRule[] =>
  validateOrThrow(transformRulesSchema, input, 'transform rules', pathPrefix);
