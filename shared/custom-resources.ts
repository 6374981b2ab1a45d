/**
 * The Kubernetes-native API: the custom resources' specs and statuses as zod schemas. The CRDs in
 * deploy/helm/temporal-dr/crds/ are generated from these and from planSchema (`npm run gen:crds`),
 * so what the API server accepts and what the product validates cannot drift apart.
 */
import { z } from 'zod';
import { durationSchema } from './duration';
import { labelSelectorSchema } from './label-selector';
import { dnsLabelSchema } from './transform-rules';

export const DR_API_GROUP = 'dr.temporal-dr.io';
export const DR_API_VERSION = 'v1alpha1';

/** A DRPlan in the request's own namespace: requests never reach another namespace's plans. */
const planRefSchema = z.strictObject({ name: dnsLabelSchema });

/** Kubernetes' metav1.Condition. */
const conditionSchema = z.object({
  type: z.string().min(1),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().optional(),
  message: z.string().optional(),
  lastTransitionTime: z.iso.datetime().optional(),
  observedGeneration: z.number().int().min(0).optional(),
});

export const drPlanStatusSchema = z.object({
  observedGeneration: z.number().int().min(0).optional(),
  /** Protected: True when the plan validates, its key Secret exists and the RPO is met; else the reason. */
  conditions: z.array(conditionSchema).optional(),
  lastPoint: z.object({ id: z.string(), time: z.iso.datetime().optional() }).optional(),
  /** Temporal Schedule ids the plan runs on. */
  schedules: z.array(z.string()).optional(),
});

/** Namespaces whose labels match get a DRPlan made from the template at run time. */
export const drPolicySpecSchema = z.strictObject({
  namespaceSelector: labelSelectorSchema,
  /** A DRPlan whose spec is the template; its selector.namespaces is replaced by each matching namespace. */
  planTemplate: z.strictObject({ namespace: dnsLabelSchema, name: dnsLabelSchema }),
  suspend: z.boolean().optional(),
});

export const drPolicyStatusSchema = z.object({
  observedGeneration: z.number().int().min(0).optional(),
  conditions: z.array(conditionSchema).optional(),
  protectedNamespaces: z.array(z.string()).optional(),
  protectedCount: z.number().int().min(0).optional(),
});

export const REQUEST_PHASES = ['Pending', 'Running', 'Succeeded', 'Failed', 'Cancelled', 'Refused'] as const;

/** Every on-demand request mirrors its workflow here. */
export const requestStatusSchema = z.object({
  observedGeneration: z.number().int().min(0).optional(),
  phase: z.enum(REQUEST_PHASES).optional(),
  /** Short progress text from the workflow's progress query (e.g. "wave 3/7", "12/40 GiB"). */
  progress: z.string().optional(),
  /** The outcome: the point id of a backup, the restore's report, the failover's RTO, the drill's verdict. */
  result: z.string().optional(),
  workflowId: z.string().optional(),
  runId: z.string().optional(),
  temporalUiUrl: z.string().optional(),
  startTime: z.iso.datetime().optional(),
  completionTime: z.iso.datetime().optional(),
  conditions: z.array(conditionSchema).optional(),
});

export const backupSpecSchema = z.strictObject({ planRef: planRefSchema });

export const restoreSpecSchema = z.strictObject({
  planRef: planRefSchema,
  /** A point id of the plan, or `latest`. */
  point: z.string().min(1).default('latest'),
  /** Where the objects go; the request's namespace unless a cluster-scoped grant allows another. */
  targetNamespace: dnsLabelSchema.optional(),
  storageClassMapping: z.record(z.string().min(1), z.string().min(1)).optional(),
  include: z
    .strictObject({ kinds: z.array(z.string().min(1)).optional(), names: z.array(z.string().min(1)).optional() })
    .optional(),
  /** Restore only the data of these claims (names in the plan's namespace). */
  volumes: z.array(dnsLabelSchema).optional(),
  existingPolicy: z.enum(['skip', 'update', 'fail']).default('fail'),
  dryRun: z.boolean().default(false),
  rollbackOnFailure: z.boolean().default(false),
  waitReadyTimeout: durationSchema.optional(),
});

export const failoverSpecSchema = z.strictObject({
  planRef: planRefSchema,
  /** The standby site to fail over to (a spec.standbys[].name of the plan). */
  to: dnsLabelSchema,
  mode: z.enum(['planned', 'unplanned']).default('planned'),
});

export const drillSpecSchema = z.strictObject({
  planRef: planRefSchema,
  /** A standby site to drill at; the plan's drill cluster by default. */
  site: dnsLabelSchema.optional(),
});
