/**
 * Generates the chart's CRDs (deploy/helm/temporal-dr/crds/) from the zod schemas: planSchema's
 * spec for DRPlan, shared/custom-resources.ts for the rest. `npm run gen:crds` writes them;
 * test/unit/crds/crds-match-schemas.test.ts fails when the committed files differ.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { z } from 'zod';
import { planSchema } from '../../shared/plan';
import {
  DR_API_GROUP,
  DR_API_VERSION,
  backupSpecSchema,
  drPlanStatusSchema,
  drPolicySpecSchema,
  drPolicyStatusSchema,
  drillSpecSchema,
  failoverSpecSchema,
  requestStatusSchema,
  restoreSpecSchema,
} from '../../shared/custom-resources';
import { toStructuralSchema, type OpenApiSchema } from './structural-schema';

const REPO_ROOT = path.resolve(__dirname, '..', '..').replace(/[/\\]dist$/, '');
export const CRD_DIR = path.join(REPO_ROOT, 'deploy/helm/temporal-dr/crds');

interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'date' | 'boolean';
  jsonPath: string;
  priority?: number;
  description?: string;
}

/** A CEL rule the API server checks (x-kubernetes-validations) on the object at a path under .spec. */
interface CelRule {
  at: string;
  rule: string;
  message: string;
}

interface ResourceDefinition {
  kind: string;
  plural: string;
  scope: 'Namespaced' | 'Cluster';
  shortNames: string[];
  spec: z.ZodType;
  status: z.ZodType;
  /** metadata.name constraints (Kubernetes allows only name and generateName there). */
  name?: z.ZodType;
  columns: PrinterColumn[];
  /**
   * zod refinements have no JSON Schema form: the ones that matter most when writing a plan by hand
   * are restated here in CEL, with the zod message. The rest (hook presets, one action per
   * transform, cross-field checks) are validatePlan's, which the controller runs.
   */
  rules?: CelRule[];
}

const age: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };
const requestColumns = (extra: PrinterColumn[]): PrinterColumn[] => [
  { name: 'Plan', type: 'string', jsonPath: '.spec.planRef.name' },
  ...extra,
  { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
  { name: 'Progress', type: 'string', jsonPath: '.status.progress' },
  { name: 'Result', type: 'string', jsonPath: '.status.result', priority: 1 },
  { name: 'Workflow', type: 'string', jsonPath: '.status.workflowId', priority: 1 },
  age,
];

export const RESOURCES: ResourceDefinition[] = [
  {
    kind: 'DRPlan',
    plural: 'drplans',
    scope: 'Namespaced',
    shortNames: ['drp'],
    spec: planSchema.shape.spec,
    status: drPlanStatusSchema,
    // Plan names go into workflow ids, task queues and store keys: DNS labels, as drctl requires.
    name: planSchema.shape.metadata.shape.name,
    rules: [
      { at: '.spec.store.encryption.keyFrom', rule: '[has(self.env), has(self.secret), has(self.kms)].filter(x, x).size() == 1', message: 'set exactly one of env, secret, kms' },
      { at: '.spec.store.encryption.keyFrom.kms.tokenFrom', rule: 'has(self.env) != has(self.secret)', message: 'set exactly one of env, secret' },
      { at: '.spec.store.credentials', rule: 'has(self.fromEnv) != has(self.fromSecret)', message: 'set exactly one of fromEnv, fromSecret' },
      {
        at: '.spec.retention',
        rule: ['keepLast', 'keepHourly', 'keepDaily', 'keepWeekly', 'keepMonthly'].map((k) => `(has(self.${k}) && self.${k} != 0)`).join(' || '),
        message: 'this would delete every recovery point; set keepLast to 1 or more, or remove retention',
      },
    ],
    columns: [
      { name: 'Source', type: 'string', jsonPath: '.spec.source.context' },
      { name: 'RPO', type: 'string', jsonPath: '.spec.rpo' },
      { name: 'Protected', type: 'string', jsonPath: '.status.conditions[?(@.type=="Protected")].status' },
      { name: 'Last point', type: 'string', jsonPath: '.status.lastPoint.id' },
      age,
    ],
  },
  {
    kind: 'DRPolicy',
    plural: 'drpolicies',
    scope: 'Cluster',
    shortNames: ['drpol'],
    spec: drPolicySpecSchema,
    status: drPolicyStatusSchema,
    columns: [
      { name: 'Template', type: 'string', jsonPath: '.spec.planTemplate.name' },
      { name: 'Protected', type: 'integer', jsonPath: '.status.protectedCount' },
      { name: 'Suspended', type: 'boolean', jsonPath: '.spec.suspend' },
      age,
    ],
  },
  { kind: 'Backup', plural: 'backups', scope: 'Namespaced', shortNames: ['drbackup'], spec: backupSpecSchema, status: requestStatusSchema, columns: requestColumns([]) },
  {
    kind: 'Restore',
    plural: 'restores',
    scope: 'Namespaced',
    shortNames: ['drrestore'],
    spec: restoreSpecSchema,
    status: requestStatusSchema,
    columns: requestColumns([{ name: 'Point', type: 'string', jsonPath: '.spec.point' }]),
  },
  {
    kind: 'Failover',
    plural: 'failovers',
    scope: 'Namespaced',
    shortNames: ['drfailover'],
    spec: failoverSpecSchema,
    status: requestStatusSchema,
    columns: requestColumns([
      { name: 'To', type: 'string', jsonPath: '.spec.to' },
      { name: 'Mode', type: 'string', jsonPath: '.spec.mode' },
    ]),
  },
  {
    kind: 'Drill',
    plural: 'drills',
    scope: 'Namespaced',
    shortNames: ['drdrill'],
    spec: drillSpecSchema,
    status: requestStatusSchema,
    columns: requestColumns([]),
  },
];

/** What a schema accepts as written (defaults make fields optional), as OpenAPI 3.0. */
const inputSchema = (schema: z.ZodType): Record<string, unknown> =>
  z.toJSONSchema(schema, { io: 'input', target: 'openapi-3.0', unrepresentable: 'any', reused: 'inline', cycles: 'throw' }) as Record<string, unknown>;

export interface GeneratedCrd {
  file: string;
  object: Record<string, unknown>;
  /** JSON paths left open (x-kubernetes-preserve-unknown-fields) because the schema there is open or not structural. */
  open: string[];
}

export function generateCrds(): GeneratedCrd[] {
  return RESOURCES.map((r) => {
    const open: string[] = [];
    const spec = toStructuralSchema(inputSchema(r.spec), '.spec', open);
    const status = toStructuralSchema(inputSchema(r.status), '.status', open);
    for (const { at, rule, message } of r.rules ?? []) {
      const node = at
        .split('.')
        .slice(2)
        .reduce((s, name) => (s.properties as Record<string, OpenApiSchema>)[name]!, spec);
      node['x-kubernetes-validations'] = [...((node['x-kubernetes-validations'] as unknown[]) ?? []), { rule, message }];
    }
    const metadata: OpenApiSchema = { type: 'object' };
    if (r.name) metadata.properties = { name: toStructuralSchema(inputSchema(r.name), '.metadata.name', open) };
    const plural = r.plural;
    const object = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `${plural}.${DR_API_GROUP}`, labels: { 'app.kubernetes.io/part-of': 'temporal-dr' } },
      spec: {
        group: DR_API_GROUP,
        scope: r.scope,
        names: { kind: r.kind, listKind: `${r.kind}List`, plural, singular: r.kind.toLowerCase(), shortNames: r.shortNames, categories: ['temporal-dr'] },
        versions: [
          {
            name: DR_API_VERSION,
            served: true,
            storage: true,
            subresources: { status: {} },
            additionalPrinterColumns: r.columns,
            schema: {
              openAPIV3Schema: {
                type: 'object',
                required: ['spec'],
                properties: { apiVersion: { type: 'string' }, kind: { type: 'string' }, metadata, spec, status },
              },
            },
          },
        ],
      },
    };
    return { file: `${plural}.${DR_API_GROUP}.yaml`, object, open };
  });
}

export const CRD_HEADER = '# Generated by `npm run gen:crds` (scripts/crds/generate.ts) from shared/plan.ts and shared/custom-resources.ts. Do not edit.\n';

export const crdYaml = (crd: GeneratedCrd): string => CRD_HEADER + stringify(crd.object, { lineWidth: 0, aliasDuplicateObjects: false });

if (require.main === module) {
  mkdirSync(CRD_DIR, { recursive: true });
  for (const crd of generateCrds()) {
    writeFileSync(path.join(CRD_DIR, crd.file), crdYaml(crd));
    console.log(`${crd.file}${crd.open.length ? ` (open: ${crd.open.join(', ')})` : ''}`);
  }
}
