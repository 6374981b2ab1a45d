import { z } from 'zod';

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

/** A Kubernetes label selector; an empty selector matches every object. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export const labelSelectorSchema = z.strictObject({
  matchLabels: z.record(z.string(), z.string()).optional(),
  matchExpressions: z
    .array(
      z
        .strictObject({
          key: z.string().min(1),
          operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
          values: z.array(z.string()).optional(),
        })
        .superRefine((req, ctx) => {
          const hasValues = (req.values?.length ?? 0) > 0;
          if ((req.operator === 'In' || req.operator === 'NotIn') && !hasValues)
            ctx.addIssue({ code: 'custom', path: ['values'], message: `operator ${req.operator} needs at least one value` });
          if ((req.operator === 'Exists' || req.operator === 'DoesNotExist') && hasValues)
            ctx.addIssue({ code: 'custom', path: ['values'], message: `operator ${req.operator} takes no values` });
        }),
    )
    .optional(),
}) satisfies z.ZodType<LabelSelector>;

/** Kubernetes semantics: all terms must hold; NotIn and DoesNotExist hold when the key is absent. */
export function matchLabelSelector(labels: Record<string, string> | undefined, selector: LabelSelector | undefined): boolean {
  if (!selector) return true;
  const have = labels ?? {};
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (have[key] !== value) return false;
  }
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const present = Object.prototype.hasOwnProperty.call(have, key);
    switch (operator) {
      case 'In':
        if (!present || !values.includes(have[key])) return false;
        break;
      case 'NotIn':
        if (present && values.includes(have[key])) return false;
        break;
      case 'Exists':
        if (!present) return false;
        break;
      case 'DoesNotExist':
        if (present) return false;
        break;
    }
  }
  return true;
}
