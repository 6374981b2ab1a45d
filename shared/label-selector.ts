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

const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE_RULE = 'at most 63 letters, digits, -, _ and ., starting and ending with a letter or digit';

/** Why `key` is not a Kubernetes label key (`name` or `prefix/name`), or undefined when it is one. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = key.slice(slash + 1);
  const hint = `expected a label key like app or app.kubernetes.io/name`;
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    return `label key ${JSON.stringify(key)} has an invalid prefix: a lowercase DNS subdomain of at most 253 characters; ${hint}`;
  }
  if (name.length > 63 || !LABEL_NAME.test(name)) return `label key ${JSON.stringify(key)} is invalid: its name part takes ${LABEL_VALUE_RULE}; ${hint}`;
  return undefined;
}

/** Why `value` is not a Kubernetes label value, or undefined when it is one (empty is allowed). */
export function labelValueProblem(value: string): string | undefined {
  if (value === '' || (value.length <= 63 && LABEL_NAME.test(value))) return undefined;
  return `label value ${JSON.stringify(value.length > 70 ? value.slice(0, 70) + '…' : value)} is invalid: expected ${LABEL_VALUE_RULE}`;
}

/** Labels as Kubernetes accepts them; selectors are sent to API servers as text, so a stray `,` or `=` would change their meaning. */
export const labelMapSchema = z.record(z.string(), z.string()).superRefine((labels, ctx) => {
  for (const [key, value] of Object.entries(labels)) {
    const problem = labelKeyProblem(key) ?? labelValueProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', path: [key], message: problem });
  }
});

export const labelSelectorSchema = z.strictObject({
  matchLabels: labelMapSchema.optional(),
  matchExpressions: z
    .array(
      z
        .strictObject({
          key: z.string().min(1),
          operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
          values: z.array(z.string()).optional(),
        })
        .superRefine((req, ctx) => {
          const keyProblem = labelKeyProblem(req.key);
          if (keyProblem) ctx.addIssue({ code: 'custom', path: ['key'], message: keyProblem });
          (req.values ?? []).forEach((value, i) => {
            const problem = labelValueProblem(value);
            if (problem) ctx.addIssue({ code: 'custom', path: ['values', i], message: problem });
          });
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
