import { parseDocument } from 'yaml';
import { z } from 'zod';
import { cronProblem } from './cron';
import { durationSchema, parseDuration, timerDurationSchema } from './duration';
import { InvalidInputError } from './errors';
import { matchesGlob } from './glob';
import { labelMapSchema, labelSelectorSchema } from './label-selector';
import { parseStoreUrl, type KeyRef, type StoreRef } from './store-ref';
import { DNS_LABEL, dnsLabelSchema, kindPatternSchema, transformRulesSchema } from './transform-rules';
import { validate } from './validation-issues';

export const PLAN_API_VERSION = 'temporal-dr/v1';

export const VOLUME_MODES = ['copy', 'snapshot-then-copy', 'skip'] as const;
export type VolumeMode = (typeof VOLUME_MODES)[number];

export const HOOK_PRESETS = ['postgresql', 'mysql', 'fsfreeze'] as const;
export type HookPresetName = (typeof HOOK_PRESETS)[number];

const ENV_VAR = /^[A-Za-z_][A-Za-z0-9_]*$/;
const envVarSchema = z.string().regex(ENV_VAR, { error: 'expected an environment variable name like AWS_ACCESS_KEY_ID' });
const nonEmpty = z.string().min(1);

/** `Kind/namespace/name` with globs; the kind part may itself hold a group (`apps/Deployment/shop/web-*`). */
export const NAME_FILTER = /^[^/\s]+(\/[^/\s]+)?\/[^/\s]*\/[^/\s]+$/;
const nameFilterSchema = z.string().regex(NAME_FILTER, { error: 'expected Kind/namespace/name, e.g. Secret/shop/tls-* (use * for any namespace)' });

const namespaceGlobSchema = z.string().regex(/^[a-z0-9*?]([-a-z0-9*?]{0,61}[a-z0-9*?])?$/, {
  error: 'expected a namespace name or glob like shop or shop-*: lowercase letters, digits, - and the wildcards * and ?, at most 63 characters',
});

export const selectorSchema = z.strictObject({
  /** Namespaces to protect; globs allowed. */
  namespaces: z.array(namespaceGlobSchema).min(1),
  labelSelector: labelSelectorSchema.optional(),
  includeKinds: z.array(kindPatternSchema).optional(),
  excludeKinds: z.array(kindPatternSchema).optional(),
  excludeNames: z.array(nameFilterSchema).optional(),
});
export type Selector = z.output<typeof selectorSchema>;

const podSelectorSchema = z.strictObject({
  namespace: dnsLabelSchema,
  matchLabels: labelMapSchema.refine((m) => Object.keys(m).length > 0, { error: 'expected at least one label' }),
});

const hookStepSchema = z.strictObject({
  /** Non-session hooks: the command run by exec. */
  command: z.array(z.string()).min(1).optional(),
  /** Session hooks: the text written to the session's stdin. */
  stdin: nonEmpty.optional(),
  timeout: timerDurationSchema.default('30s'),
  onError: z.enum(['fail', 'continue']).default('fail'),
});
export type HookStep = z.output<typeof hookStepSchema>;

const presetOptionsSchema = z.strictObject({
  /** postgresql/mysql: the client program and its flags, replacing the preset's; fsfreeze: the fsfreeze program (e.g. [busybox, fsfreeze]). */
  command: z.array(z.string()).min(1).optional(),
  /** postgresql/mysql: database user (default postgres / root). */
  user: nonEmpty.optional(),
  /** postgresql: the data directory inside the container (default /var/lib/postgresql/data). */
  dataDirectory: z.string().startsWith('/', { error: 'expected an absolute path' }).optional(),
  /** fsfreeze: the mount point to freeze (required). */
  mountPath: z.string().startsWith('/', { error: 'expected an absolute path' }).optional(),
});

export const hookSchema = z
  .strictObject({
    name: dnsLabelSchema,
    podSelector: podSelectorSchema,
    /** Defaults to the pod's first container. */
    container: nonEmpty.optional(),
    preset: z.enum(HOOK_PRESETS).optional(),
    presetOptions: presetOptionsSchema.optional(),
    /** Pre and post run in one exec session held open across the copy (psql, mysql). */
    session: z.boolean().optional(),
    /** Session hooks: the interactive program. */
    command: z.array(z.string()).min(1).optional(),
    /**
     * Session hooks: a statement that prints `{marker}`, written after each step's stdin so the
     * runner knows the step finished and where its output ends (psql: `\echo {marker}`).
     */
    markerStatement: z.string().includes('{marker}', { error: 'must contain {marker}' }).optional(),
    pre: hookStepSchema.optional(),
    post: hookStepSchema.optional(),
    /** Longest time the quiesce may be held; past it the post step runs and the backup fails. */
    maxHold: timerDurationSchema.optional(),
  })
  .superRefine((hook, ctx) => {
    const issue = (path: PropertyKey[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    if (hook.preset) {
      for (const field of ['pre', 'post', 'command', 'markerStatement'] as const)
        if (hook[field] !== undefined) issue([field], `not allowed with preset ${hook.preset}; remove ${field} or the preset`);
      if (hook.preset === 'fsfreeze' && !hook.presetOptions?.mountPath) issue(['presetOptions', 'mountPath'], 'required for preset fsfreeze');
      return;
    }
    if (hook.presetOptions) issue(['presetOptions'], 'only used with a preset');
    if (!hook.pre && !hook.post) issue([], 'set a preset, or pre and/or post');
    if (hook.session) {
      if (!hook.command) issue(['command'], 'required for a session hook (the interactive program, e.g. [psql])');
      if (!hook.markerStatement) issue(['markerStatement'], 'required for a session hook, e.g. "\\echo {marker}"');
      for (const step of ['pre', 'post'] as const) {
        if (!hook[step]) continue;
        if (hook[step].command) issue([step, 'command'], 'a session hook writes stdin; put the program in the hook-level command');
        if (!hook[step].stdin) issue([step, 'stdin'], 'required for a session hook');
      }
    } else {
      if (hook.command) issue(['command'], 'only used when session is true; use pre.command and post.command');
      if (hook.markerStatement) issue(['markerStatement'], 'only used when session is true');
      for (const step of ['pre', 'post'] as const) {
        if (!hook[step]) continue;
        if (!hook[step].command) issue([step, 'command'], 'required');
        if (hook[step].stdin) issue([step, 'stdin'], 'only used when session is true');
      }
    }
  });
export type HookSpec = z.output<typeof hookSchema>;

const volumesSchema = z.strictObject({
  defaultMode: z.enum(VOLUME_MODES).default('copy'),
  /** StorageClass name -> mode. */
  byStorageClass: z.record(nonEmpty, z.enum(VOLUME_MODES)).default({}),
  /** `namespace/pvc-name` (globs) -> mode; wins over byStorageClass. */
  byPvc: z.record(z.string().regex(/^[^/]+\/[^/]+$/, { error: 'expected namespace/name' }), z.enum(VOLUME_MODES)).default({}),
  /** VolumeSnapshotClass for snapshot-then-copy; the cluster's default class when omitted. */
  snapshotClass: nonEmpty.optional(),
});
export type VolumesSpec = z.output<typeof volumesSchema>;

const secretKeyRefSchema = z.strictObject({ namespace: dnsLabelSchema, name: nonEmpty, key: nonEmpty });

/**
 * A key of a Vault-compatible KMS's transit engine (OpenBao, Vault): it wraps the repository key
 * and never leaves the KMS. The token comes from a worker env var or a Secret key.
 */
const kmsKeySchema = z.strictObject({
  address: z.url({ protocol: /^https?$/, error: 'expected the KMS address like https://openbao.example:8200' }),
  mount: nonEmpty.default('transit'),
  keyName: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, { error: 'expected a transit key name of [A-Za-z0-9._-]' }),
  tokenFrom: z
    .strictObject({ env: envVarSchema.optional(), secret: secretKeyRefSchema.optional() })
    .refine((t) => (t.env === undefined) !== (t.secret === undefined), { error: 'set exactly one of env, secret' }),
  caFile: nonEmpty.optional(),
});

/** Where a site's object store is and how to reach it (the key is the plan's, see spec.store.encryption). */
const storeLocationFields = {
  url: z
    .string()
    .refine((u) => parseStoreUrl(u) !== undefined, { error: 'expected s3://bucket/prefix' })
    .refine((u) => (parseStoreUrl(u)?.prefix ?? '').split('/').every((s) => s !== '.' && s !== '..' && !/[\u0000-\u001f\u007f\\]/.test(s)), {
      error: 'the prefix may not hold . or .. segments, backslashes or control characters; expected s3://bucket/prefix',
    }),
  endpoint: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL like https://s3.example.com' }).optional(),
  region: nonEmpty.optional(),
  forcePathStyle: z.boolean().optional(),
  credentials: z
    .strictObject({
      fromEnv: z.strictObject({ accessKeyIdVar: envVarSchema, secretAccessKeyVar: envVarSchema }).optional(),
      fromSecret: z
        .strictObject({ namespace: dnsLabelSchema, name: nonEmpty, accessKeyIdKey: nonEmpty, secretAccessKeyKey: nonEmpty })
        .optional(),
    })
    .refine((c) => (c.fromEnv === undefined) !== (c.fromSecret === undefined), { error: 'set exactly one of fromEnv, fromSecret' })
    .optional(),
};
export type StoreLocationSpec = z.output<z.ZodObject<typeof storeLocationFields>>;

const storeSchema = z
  .strictObject({
    ...storeLocationFields,
    encryption: z.strictObject({
      /** Where the key-encryption key comes from: a worker env var or a Secret key (32 bytes, base64), or a KMS key. */
      keyFrom: z
        .strictObject({ env: envVarSchema.optional(), secret: secretKeyRefSchema.optional(), kms: kmsKeySchema.optional() })
        .refine((k) => [k.env, k.secret, k.kms].filter((v) => v !== undefined).length === 1, { error: 'set exactly one of env, secret, kms' }),
    }),
    /**
     * Write every point under S3 Object Lock (the bucket must have been created with Object Lock
     * enabled): `governance` (deletable only with the bypass-governance permission and header) or
     * `compliance` (nobody can delete or shorten it); each point stays locked for `retention`.
     */
    objectLock: z
      .strictObject({
        mode: z.enum(['governance', 'compliance'], { error: 'expected governance or compliance' }),
        retention: durationSchema.refine((s) => (parseDuration(s) ?? 1000) >= 1000, { error: 'expected at least 1s (e.g. 30d)' }),
      })
      .optional(),
  });
export type StoreSpec = z.output<typeof storeSchema>;

const keepCount = z.number().int().min(0).optional();
const retentionSchema = z
  .strictObject({ keepLast: keepCount, keepHourly: keepCount, keepDaily: keepCount, keepWeekly: keepCount, keepMonthly: keepCount })
  .refine((r) => Object.values(r).some((n) => n !== undefined && n !== 0), {
    error: 'this would delete every recovery point; set keepLast to 1 or more, or remove retention',
  });
export type RetentionSpec = z.output<typeof retentionSchema>;

const clusterSchema = z.strictObject({ context: nonEmpty, clusterName: dnsLabelSchema.optional() });

/** The primary site: a cluster (with spec.store as its store) and the name failover and failback call it by. */
const sourceSchema = clusterSchema.extend({
  /** The site's name in `drctl failover --to` and `replicate/<plan>/<name>` (reverse replication). */
  name: dnsLabelSchema.default('primary'),
});

const APPROVAL_GATES = ['before-fencing', 'before-traffic-switch'] as const;
export type ApprovalGate = (typeof APPROVAL_GATES)[number] | 'confirm-fenced';

/**
 * How failover and failback run: which steps wait for a human, how the new primary is verified,
 * how an unreachable old primary is fenced, and how traffic moves. All optional.
 */
const failoverSchema = z.strictObject({
  /** Steps that wait for `drctl approve` (a fence confirmation is always asked when the old primary is unreachable and no fencing webhook is set). */
  approvals: z.array(z.enum(APPROVAL_GATES)).default([]),
  approvalTimeout: durationSchema.default('1h'),
  /** What an approval that times out means: stop cleanly (reject, the default) or go on. */
  onApprovalTimeout: z.enum(['reject', 'approve']).default('reject'),
  /** How long the new primary's workloads get to become Ready. */
  waitReadyTimeout: durationSchema.default('10m'),
  /** Checks run in the new primary's pods once Ready; any failure stops before traffic moves. */
  verify: z.array(z.lazy(() => verifyCheckSchema)).default([]),
  /** Fences an unreachable old primary (e.g. cuts its network or power): POSTed {plan, site, failoverId}; 2xx means fenced. */
  fencing: z.strictObject({ webhook: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }) }).optional(),
  /** Moves traffic to the new primary, only once it is restored and verified. */
  trafficSwitch: z
    .strictObject({
      /** An ExternalName Service (on a cluster of its own, or any site) set to the new primary's address. */
      service: z
        .strictObject({
          context: nonEmpty,
          namespace: dnsLabelSchema,
          name: dnsLabelSchema,
          /** Site name -> the externalName that reaches the app at that site. */
          externalNames: z.record(dnsLabelSchema, nonEmpty),
        })
        .optional(),
      /** POSTed {plan, from, to, failoverId} once the new primary is verified. */
      webhook: z.strictObject({ url: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }) }).optional(),
    })
    .optional(),
});
export type FailoverSpec = z.output<typeof failoverSchema>;

/**
 * A standby site: another cluster with its own object store. Replication ships every recovery
 * point from spec.store to this store, so a failover needs nothing of the primary site. The
 * standby's repository uses the plan's key (spec.store.encryption): packs are copied as they are.
 */
const standbySchema = z.strictObject({
  /** The site's name: `replicate/<plan>/<name>` is its replication workflow. */
  name: dnsLabelSchema,
  /** kubeconfig context of the standby cluster; clusterName defaults to it. */
  context: nonEmpty,
  clusterName: dnsLabelSchema.optional(),
  store: z.strictObject(storeLocationFields),
  /**
   * `warm`: after each shipped point the standby cluster is pre-staged from its store (objects
   * applied fenced at zero replicas, volumes hydrated incrementally), so a failover applies the
   * last delta and scales up. `cold` (default): nothing runs or is stored on the standby cluster.
   */
  standby: z.enum(['cold', 'warm']).default('cold'),
});
export type StandbySpec = z.output<typeof standbySchema>;

const verifyCheckSchema = z.strictObject({
  name: dnsLabelSchema,
  podSelector: podSelectorSchema,
  container: nonEmpty.optional(),
  command: z.array(z.string()).min(1),
  timeout: timerDurationSchema.default('30s'),
});

const httpCheckSchema = z.strictObject({
  name: dnsLabelSchema,
  /** A Service of the application, by its production namespace (the drill maps it to its own). */
  service: z.strictObject({ namespace: dnsLabelSchema, name: dnsLabelSchema, port: z.union([z.number().int().min(1).max(65535), dnsLabelSchema]) }),
  path: z.string().regex(/^\/[^?#]*$/, { error: 'expected a path starting with / (no query string)' }).default('/'),
  expectStatus: z.number().int().min(100).max(599).default(200),
  /** Text the response body must contain. */
  bodyContains: z.string().optional(),
  /** How long the check keeps asking (a Service's endpoints lag its pods becoming Ready). */
  timeout: durationSchema.default('60s'),
});
export type HttpCheck = z.output<typeof httpCheckSchema>;

const drillSchema = z.strictObject({
  schedule: z.string().superRefine((s, ctx) => {
    const problem = cronProblem(s);
    if (problem) ctx.addIssue({ code: 'custom', message: `${problem} (expected cron like "0 3 * * 1")` });
  }),
  /** Appended to each namespace of the drill restore: shop -> shop-drill. */
  namespaceSuffix: z.string().regex(/^-[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, { error: 'expected a suffix like -drill' }).default('-drill'),
  verify: z.array(verifyCheckSchema).default([]),
  /**
   * Commands whose output (trimmed) each backup records while the application is quiesced, after
   * its volumes are copied (a row count, a checksum); a drill runs them in its copy and fails a
   * check whose output differs. The output is stored in the catalog in clear: record counts and
   * checksums, never data.
   */
  dataChecks: z.array(verifyCheckSchema).default([]),
  /** Requests sent through the drill cluster's API server (its Service proxy) to a Service of the drill copy. */
  httpChecks: z.array(z.lazy(() => httpCheckSchema)).default([]),
  /** Scheduled drills failed in a row after which the schedule pauses itself (0: never). */
  pauseAfterFailures: z.number().int().min(0).default(1),
});

/** A cron expression, checked as spec.drill.schedule is. */
const cronSchema = z.string().superRefine((s, ctx) => {
  const problem = cronProblem(s);
  if (problem) ctx.addIssue({ code: 'custom', message: `${problem} (expected cron like "0 3 * * *")` });
});

/** Scheduled backups (the controller keeps a Temporal Schedule of them for a DRPlan resource). */
const backupScheduleSchema = z.strictObject({ schedule: cronSchema });

export const planSchema = z.strictObject({
  apiVersion: z.literal(PLAN_API_VERSION),
  kind: z.literal('DRPlan'),
  metadata: z.strictObject({ name: dnsLabelSchema }),
  spec: z.strictObject({
    source: sourceSchema,
    selector: selectorSchema,
    hooks: z.array(hookSchema).default([]),
    volumes: volumesSchema.default({ defaultMode: 'copy', byStorageClass: {}, byPvc: {} }),
    store: storeSchema,
    retention: retentionSchema.optional(),
    target: clusterSchema.optional(),
    transforms: transformRulesSchema.default([]),
    /** Recovery point objective: replication to each standby takes and ships a point every rpo/2. */
    rpo: durationSchema.optional(),
    /** Sites that replication keeps within the rpo (each a cluster and its own store). */
    standbys: z.array(standbySchema).min(1, { error: 'list at least one standby site, or remove standbys' }).optional(),
    drill: drillSchema.optional(),
    failover: failoverSchema.optional(),
    /** Backups on a cron (DRPlan resources: the controller's Temporal Schedule). */
    backup: backupScheduleSchema.optional(),
    /** DRPlan resources: what deleting the resource does to its recovery points (Retain by default, or Delete). */
    deletionPolicy: z.enum(['Retain', 'Delete']).optional(),
  }),
});

export type Plan = z.output<typeof planSchema>;
/** A plan as written, before defaults. */
export type PlanInput = z.input<typeof planSchema>;

/** Checks that span fields: a schema per field cannot see them. */
function crossFieldIssues(plan: Plan): string[] {
  const issues: string[] = [];
  const seen = new Map<string, number>();
  plan.spec.hooks.forEach((hook, i) => {
    if (seen.has(hook.name)) issues.push(`spec.hooks[${i}].name: duplicate of spec.hooks[${seen.get(hook.name)}].name "${hook.name}"`);
    else seen.set(hook.name, i);
  });
  // Workers resolve credentials and keys from their environment only, for now: say so rather than
  // silently using the worker's default credentials.
  if (plan.spec.store.credentials?.fromSecret) {
    issues.push('spec.store.credentials.fromSecret: not supported by this release yet; use fromEnv and set the variables on the workers and node agents');
  }
  issues.push(...standbyIssues(plan), ...failoverIssues(plan), ...drillIssues(plan));
  const includes = new Set(plan.spec.selector.includeKinds ?? []);
  (plan.spec.selector.excludeKinds ?? []).forEach((kind, i) => {
    if (includes.has(kind)) issues.push(`spec.selector.excludeKinds[${i}]: ${kind} is also in includeKinds`);
  });
  return issues;
}

/** Standby sites must be other clusters with other stores, named once, with an rpo to keep. */
/** A drill reports its checks by name: each name once across verify, dataChecks and httpChecks. */
function drillIssues(plan: Plan): string[] {
  const drill = plan.spec.drill;
  if (!drill) return [];
  const issues: string[] = [];
  const seen = new Map<string, string>();
  for (const list of ['verify', 'dataChecks', 'httpChecks'] as const) {
    drill[list].forEach((c, i) => {
      const where = `spec.drill.${list}[${i}].name`;
      if (seen.has(c.name)) issues.push(`${where}: duplicate of ${seen.get(c.name)} "${c.name}"; give each drill check its own name`);
      else seen.set(c.name, where);
    });
  }
  return issues;
}

function standbyIssues(plan: Plan): string[] {
  const standbys = plan.spec.standbys ?? [];
  if (!standbys.length) return [];
  const issues: string[] = [];
  if (plan.spec.rpo === undefined) {
    issues.push('spec.rpo: required when spec.standbys is set; replication takes and ships a point every rpo/2 (e.g. rpo: 15m)');
  }
  const primary = storeIdentity(planToStoreRef(plan));
  const names = new Map<string, number>();
  const stores = new Map<string, number>();
  standbys.forEach((site, i) => {
    const at = `spec.standbys[${i}]`;
    if (names.has(site.name)) issues.push(`${at}.name: duplicate of spec.standbys[${names.get(site.name)}].name "${site.name}"`);
    else names.set(site.name, i);
    if (site.name === plan.spec.source.name) issues.push(`${at}.name: "${site.name}" is the source site's name (spec.source.name); name each site once`);
    if (site.context === plan.spec.source.context) {
      issues.push(`${at}.context: "${site.context}" is the source cluster's context; a standby site must be another cluster`);
    }
    const id = storeIdentity(storeLocationToRef(site.store));
    if (id === primary) issues.push(`${at}.store: the same store as spec.store; a standby site needs its own store (another endpoint, bucket or prefix)`);
    else if (stores.has(id)) issues.push(`${at}.store: the same store as spec.standbys[${stores.get(id)}].store`);
    else stores.set(id, i);
    if (site.store.credentials?.fromSecret) {
      issues.push(`${at}.store.credentials.fromSecret: not supported by this release yet; use fromEnv and set the variables on the workers and node agents`);
    }
  });
  return issues;
}

/** A traffic switch must know where the app answers at every site it can move to. */
function failoverIssues(plan: Plan): string[] {
  const service = plan.spec.failover?.trafficSwitch?.service;
  if (!service) return [];
  const sites = [plan.spec.source.name, ...(plan.spec.standbys ?? []).map((s) => s.name)];
  const issues = Object.keys(service.externalNames)
    .filter((name) => !sites.includes(name))
    .map((name) => `spec.failover.trafficSwitch.service.externalNames.${name}: no site is named "${name}"; the sites are ${sites.join(', ')}`);
  for (const name of sites) {
    if (!(name in service.externalNames)) issues.push(`spec.failover.trafficSwitch.service.externalNames: missing site "${name}"; give the address the app answers at on every site`);
  }
  return issues;
}

const storeIdentity = (ref: StoreRef) => `${ref.endpoint ?? 'aws'}|${ref.bucket}|${ref.prefix}`;

/**
 * A cluster's name defaults to its kubeconfig context, and names task queues and catalogs, which
 * take only DNS-1123 labels: contexts such as `arn:aws:eks:…:cluster/prod` need an explicit name.
 */
function clusterNameIssues(plan: Plan): string[] {
  const clusters: [string, { context: string; clusterName?: string } | undefined][] = [
    ['spec.source', plan.spec.source],
    ['spec.target', plan.spec.target],
    ...(plan.spec.standbys ?? []).map((s, i): [string, StandbySpec] => [`spec.standbys[${i}]`, s]),
  ];
  return clusters
    .filter(([, c]) => c && c.clusterName === undefined && !DNS_LABEL.test(c.context))
    .map(([at, c]) => `${at}.clusterName: required because context "${c!.context}" is not a DNS-1123 label; name the cluster, e.g. clusterName: prod`);
}

/** Fills defaults that depend on other fields. */
function withDerivedDefaults(plan: Plan): Plan {
  const named = <C extends { context: string; clusterName?: string }>(c: C) => ({ ...c, clusterName: c.clusterName ?? c.context });
  return {
    ...plan,
    spec: {
      ...plan.spec,
      source: named(plan.spec.source),
      ...(plan.spec.target ? { target: named(plan.spec.target) } : {}),
      ...(plan.spec.standbys ? { standbys: plan.spec.standbys.map(named) } : {}),
    },
  };
}

/**
 * Parses and validates a DR plan. Throws InvalidInputError listing every problem at once as
 * `path: message` lines (YAML syntax errors as `line L, column C: message`).
 */
export function parsePlan(yamlText: string): Plan {
  const doc = parseDocument(yamlText, { prettyErrors: true, uniqueKeys: true });
  const yamlError = (issues: string[]) => new InvalidInputError('the plan is not valid YAML', issues);
  if (doc.errors.length > 0) {
    const issues = doc.errors.map((e) => {
      const pos = e.linePos?.[0];
      const where = pos ? `line ${pos.line}, column ${pos.col}` : 'yaml';
      return `${where}: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`;
    });
    throw yamlError(issues);
  }
  let data: unknown;
  try {
    data = doc.toJS();
  } catch (err) {
    const message = (err as Error).message;
    throw yamlError([`yaml: ${message}${/alias/i.test(message) ? '; write the values out instead of nesting aliases (*name)' : ''}`]);
  }
  return validatePlan(data);
}

/** Validates a plan already parsed into data (e.g. from JSON, or the copy kept in a catalog). */
export function validatePlan(input: unknown): Plan {
  const result = validate(planSchema, input);
  if (!result.ok) throw new InvalidInputError('the plan is invalid', result.issues);
  const unnamed = clusterNameIssues(result.data);
  if (unnamed.length) throw new InvalidInputError('the plan is invalid', unnamed);
  const plan = withDerivedDefaults(result.data);
  const issues = crossFieldIssues(plan);
  if (issues.length) throw new InvalidInputError('the plan is invalid', issues);
  return plan;
}

/** Where the plan's repository lives; carries no secret (fromSecret credentials are resolved by the worker). */
export function planToStoreRef(plan: Plan): StoreRef {
  const ref = storeLocationToRef(plan.spec.store);
  if (plan.spec.store.objectLock) ref.objectLock = { ...plan.spec.store.objectLock };
  return ref;
}

/** A standby site of the plan by name; InvalidInputError naming the sites when there is none. */
export function standbySite(plan: Plan, name: string): StandbySpec {
  const sites = plan.spec.standbys ?? [];
  const site = sites.find((s) => s.name === name);
  if (!site) {
    throw new InvalidInputError(
      sites.length
        ? `plan ${plan.metadata.name} has no standby site "${name}"; its sites are ${sites.map((s) => s.name).join(', ')}`
        : `plan ${plan.metadata.name} lists no standby site; add spec.standbys (name, context, store) and spec.rpo`,
    );
  }
  return site;
}

/** Where a standby site's repository lives (same shape as planToStoreRef; no secret). */
export function standbyStoreRef(site: Pick<StandbySpec, 'store'>): StoreRef {
  return storeLocationToRef(site.store);
}

/** The replication interval the plan's rpo implies: a point every rpo/2 keeps the achieved RPO (interval + backup and ship time) under the target. */
export function replicationIntervalMs(plan: Plan): number {
  if (plan.spec.rpo === undefined) throw new InvalidInputError(`spec.rpo: plan ${plan.metadata.name} sets no rpo; replication needs one (e.g. rpo: 15m)`);
  return Math.max(1000, Math.floor(parseDuration(plan.spec.rpo)! / 2));
}

/** Where a store location (spec.store or a standby's store) lives, as activities open it. */
export function storeLocationToRef(store: StoreLocationSpec): StoreRef {
  const { bucket, prefix } = parseStoreUrl(store.url)!;
  const ref: StoreRef = { bucket, prefix };
  if (store.endpoint !== undefined) ref.endpoint = store.endpoint;
  if (store.region !== undefined) ref.region = store.region;
  if (store.forcePathStyle !== undefined) ref.forcePathStyle = store.forcePathStyle;
  if (store.credentials?.fromEnv) ref.credentialsFromEnv = { ...store.credentials.fromEnv };
  return ref;
}

/**
 * The plan's key-encryption key reference, as workers resolve it. A Secret is read through the
 * cluster of `context`: the source cluster's by default (backups, shipping from the primary);
 * pass a standby's context for reads at that standby, so they work while the source is down.
 */
export function planKeyRef(plan: Plan, context: string = plan.spec.source.context): KeyRef {
  const { env, secret, kms } = plan.spec.store.encryption.keyFrom;
  if (env) return { env };
  if (secret) return { secret: { ...secret }, context };
  if (kms) return { kms: { ...kms, tokenFrom: 'env' in kms.tokenFrom && kms.tokenFrom.env ? { env: kms.tokenFrom.env } : { secret: { ...kms.tokenFrom.secret! } } }, context };
  throw new InvalidInputError('spec.store.encryption.keyFrom: set exactly one of env, secret, kms');
}

/**
 * The environment variable of the plan's key, for restore requests, which carry only a variable
 * name in this release; undefined when the key comes from a Secret (restores cannot use it yet).
 */
export function planKeyEnv(plan: Plan): string | undefined {
  return plan.spec.store.encryption.keyFrom.env;
}

/** The mode for one PVC: a byPvc glob wins over its StorageClass, which wins over the default. */
export function volumeModeFor(volumes: VolumesSpec, pvc: { namespace: string; name: string; storageClass?: string }): VolumeMode {
  for (const [pattern, mode] of Object.entries(volumes.byPvc)) {
    const [ns, name] = pattern.split('/');
    if (matchesGlob(ns, pvc.namespace) && matchesGlob(name, pvc.name)) return mode;
  }
  if (pvc.storageClass !== undefined && Object.hasOwn(volumes.byStorageClass, pvc.storageClass)) return volumes.byStorageClass[pvc.storageClass];
  return volumes.defaultMode;
}
