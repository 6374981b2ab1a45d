import { z } from 'zod';
import { DataCorruptionError, DrError } from './errors';
import { planSchema } from './plan';
import { validate } from './validation-issues';

/**
 * The recovery-point catalog: `catalog.json`, written last, so a point without one is not a
 * recovery point. It describes everything needed to restore from the store alone. It holds no
 * secret: the plan names credentials only by env var or Secret reference, Secret manifests live
 * only in the encrypted bundle, and hook output is truncated and redacted before it is recorded.
 *
 * It stays readable JSON, so points can be listed without the key, but from format 2 on it carries
 * `mac`, an HMAC under the repository key over the rest of it and its place in the store
 * (activities/catalog/catalog-auth.ts). The bundle and volume manifests are bound to it by their
 * SHA-256, so checking the MAC authenticates everything a restore reads. Format 1 catalogs have
 * no MAC: they can be listed, never restored from.
 */
export const CATALOG_FORMAT_VERSION = 2;
/** Formats this release reads (1 only to list and describe: it cannot be authenticated). */
const READABLE_FORMATS = [1, 2] as const;

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, { error: 'expected a hex SHA-256' });
const isoTime = z.iso.datetime({ offset: true });
const count = z.number().int().min(0);

const ownerRefSummary = z.strictObject({ kind: z.string(), name: z.string(), controller: z.boolean().optional() });

export const catalogResourceSchema = z.strictObject({
  apiVersion: z.string(),
  kind: z.string(),
  namespace: z.string().optional(),
  name: z.string(),
  group: z.string(),
  /** Resource plural from discovery, e.g. `deployments`. */
  resource: z.string(),
  /**
   * SHA-256 of the stripped manifest's canonical JSON. For Secrets it is an HMAC-SHA256 keyed by
   * the repository key, so a guessable secret cannot be confirmed from the catalog (`keyed`).
   */
  sha256: sha256Hex,
  keyed: z.boolean().optional(),
  size: count,
  ownerRefs: z.array(ownerRefSummary).default([]),
});
export type CatalogResource = z.output<typeof catalogResourceSchema>;

export const hookArtifactRecordSchema = z.strictObject({
  hook: z.string(),
  /** Container path the content belongs at, e.g. `/var/lib/postgresql/data/backup_label`. */
  containerPath: z.string(),
  /** Path relative to the volume root where restore writes it. */
  volumePath: z.string(),
  key: z.string(),
  sha256: sha256Hex,
  size: count,
});

export const catalogVolumeSchema = z
  .strictObject({
    pvc: z.strictObject({ namespace: z.string(), name: z.string() }),
    pvName: z.string().optional(),
    storageClass: z.string().optional(),
    /** Requested size as in the PVC, e.g. `10Gi`. */
    size: z.string(),
    mode: z.enum(['copy', 'snapshot-then-copy', 'skip']),
    /** Node whose agent copied the data. */
    node: z.string().optional(),
    /** Key of the volume snapshot manifest (file tree and chunk list); absent when skipped. */
    snapshotKey: z.string().optional(),
    snapshotSha256: sha256Hex.optional(),
    /** Why the point holds no data for this claim although its mode copies (e.g. it was not bound: no data existed yet). */
    noData: z.string().optional(),
    files: count,
    bytes: count,
    hookArtifacts: z.array(hookArtifactRecordSchema).default([]),
  })
  .refine((v) => v.mode === 'skip' || v.noData !== undefined || (v.snapshotKey !== undefined && v.snapshotSha256 !== undefined), {
    error: 'snapshotKey and snapshotSha256 are required unless mode is skip or noData says why there is no data',
  });
export type CatalogVolume = z.output<typeof catalogVolumeSchema>;

export const hookRunSchema = z.strictObject({
  hook: z.string(),
  pod: z.strictObject({ namespace: z.string(), name: z.string() }),
  container: z.string(),
  step: z.enum(['pre', 'post']),
  result: z.enum(['ok', 'failed', 'timed-out', 'skipped']),
  exitCode: z.number().int().optional(),
  durationMs: count,
  /** The tail of the output, redacted (see sanitizeHookOutput). */
  output: z.string(),
  outputTruncated: z.boolean(),
});
export type HookRun = z.output<typeof hookRunSchema>;

export const workloadImagesSchema = z.strictObject({
  kind: z.string(),
  namespace: z.string(),
  name: z.string(),
  containers: z.array(z.strictObject({ name: z.string(), image: z.string(), imageID: z.string().optional() })),
});

export const dataCheckRecordSchema = z.strictObject({
  name: z.string(),
  pod: z.strictObject({ namespace: z.string(), name: z.string() }),
  /** The command's trimmed output; absent when it failed (then `error` says why). */
  value: z.string().optional(),
  error: z.string().optional(),
  recordedAt: isoTime,
});
export type DataCheckRecord = z.output<typeof dataCheckRecordSchema>;

/** A catalog's fields, before it is signed (writers check this; readers check catalogSchema). */
export const unsignedCatalogSchema = z.strictObject({
  formatVersion: z.union(READABLE_FORMATS.map((v) => z.literal(v))),
  /** HMAC-SHA256 (hex) of the catalog without this field; required from format 2 on. */
  mac: sha256Hex.optional(),
  pointId: z.string(),
  planName: z.string(),
  plan: planSchema,
  status: z.literal('complete'),
  source: z.strictObject({ clusterName: z.string(), context: z.string().optional(), kubernetesVersion: z.string() }),
  createdAt: isoTime,
  startedAt: isoTime,
  completedAt: isoTime,
  resources: z.strictObject({
    /** The encrypted bundle of every manifest. */
    bundle: z.strictObject({ key: z.string(), sha256: sha256Hex, size: count, encryption: z.literal('aes-256-gcm') }),
    items: z.array(catalogResourceSchema),
  }),
  volumes: z.array(catalogVolumeSchema),
  images: z.array(workloadImagesSchema),
  hooks: z.array(hookRunSchema),
  /** The output of each of the plan's spec.drill.dataChecks, recorded while quiesced; drills compare their copy with it. */
  dataChecks: z.array(dataCheckRecordSchema).optional(),
  /** Duration of each phase of the backup, in run order. */
  timings: z.array(z.strictObject({ phase: z.string(), startedAt: isoTime, durationMs: count })),
  totals: z.strictObject({ resources: count, volumes: count, files: count, bytes: count, storedBytes: count }),
});
export const catalogSchema = unsignedCatalogSchema.refine((c) => c.formatVersion === 1 || c.mac !== undefined, { error: 'mac is required from formatVersion 2 on', path: ['mac'] });
export type Catalog = z.output<typeof catalogSchema>;
export type CatalogInput = z.input<typeof catalogSchema>;

/** A catalog written by a newer release; this one cannot read it safely. */
export class UnsupportedCatalogVersionError extends DrError {
  readonly retryable = false;
  constructor(
    readonly found: unknown,
    readonly supported = CATALOG_FORMAT_VERSION,
  ) {
    super(`catalog formatVersion ${JSON.stringify(found)} is not supported (this release reads ${READABLE_FORMATS.join(' and ')}); upgrade drctl and the workers`);
  }
}

/** Reads a catalog; throws UnsupportedCatalogVersionError or DataCorruptionError naming every bad field. */
export function parseCatalog(json: string | unknown, where = 'catalog'): Catalog {
  let data: unknown = json;
  if (typeof json === 'string') {
    try {
      data = JSON.parse(json);
    } catch (err) {
      throw new DataCorruptionError(`${where} is not JSON: ${(err as Error).message}`);
    }
  }
  const version = (data as { formatVersion?: unknown } | null)?.formatVersion;
  if (!(READABLE_FORMATS as readonly unknown[]).includes(version)) {
    if (typeof data !== 'object' || data === null || version === undefined) throw new DataCorruptionError(`${where} has no formatVersion`);
    throw new UnsupportedCatalogVersionError(version);
  }
  const result = validate(catalogSchema, data);
  if (!result.ok) throw new DataCorruptionError(`${where} is invalid:\n  ${result.issues.join('\n  ')}`);
  return result.data;
}

// ---- Object-store layout. Keys are relative to the repository (StoreRef.prefix is added by the store client).

const POINT_ID = /^(\d{8}T\d{6}Z)-([a-z0-9]{1,16})$/;

/**
 * A recovery point id that sorts by time: `20261122T021500Z-abcd`. `suffix` makes ids unique
 * (e.g. from the workflow id); it must be lowercase letters and digits.
 */
export function pointId(date: Date, suffix: string): string {
  if (!/^[a-z0-9]{1,16}$/.test(suffix)) throw new RangeError(`point id suffix ${JSON.stringify(suffix)}: expected 1-16 lowercase letters or digits`);
  const stamp = date.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
  return `${stamp}-${suffix}`;
}

export const isPointId = (id: string): boolean => POINT_ID.test(id);

/** The time a point id was minted, or undefined when `id` is not a point id. */
export function pointIdTime(id: string): Date | undefined {
  const m = POINT_ID.exec(id);
  if (!m) return undefined;
  const s = m[1];
  return new Date(`${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:${s.slice(13, 15)}Z`);
}

/** Prefix under which every recovery point of a plan lives (list it to find the points). */
export const planPointsPrefix = (planName: string): string => `points/${planName}/`;
export const pointPrefix = (planName: string, id: string): string => `${planPointsPrefix(planName)}${id}/`;
export const catalogKey = (planName: string, id: string): string => `${pointPrefix(planName, id)}catalog.json`;
/** Written first and deleted after the catalog: a point with only this marker is in progress or abandoned. */
export const inProgressMarkerKey = (planName: string, id: string): string => `${pointPrefix(planName, id)}in-progress.json`;
export const resourcesKey = (planName: string, id: string): string => `${pointPrefix(planName, id)}resources.bundle`;
export const volumeSnapshotKey = (planName: string, id: string, pvcNamespace: string, pvcName: string): string =>
  `${pointPrefix(planName, id)}volumes/${pvcNamespace}/${pvcName}/snapshot.json`;
export const hookArtifactKey = (planName: string, id: string, pvcNamespace: string, pvcName: string, fileName: string): string =>
  `${pointPrefix(planName, id)}volumes/${pvcNamespace}/${pvcName}/artifacts/${fileName}`;

/** `{ planName, pointId }` of a key under `points/`, or undefined. */
export function parsePointKey(key: string): { planName: string; pointId: string } | undefined {
  const m = /^points\/([a-z0-9-]+)\/([^/]+)\//.exec(key);
  return m && isPointId(m[2]) ? { planName: m[1], pointId: m[2] } : undefined;
}

/** The in-progress marker's content: enough to find and clean up an abandoned point. */
export interface InProgressMarker {
  formatVersion: typeof CATALOG_FORMAT_VERSION;
  pointId: string;
  planName: string;
  startedAt: string;
  /** The workflow run writing the point. */
  workflowId: string;
  runId?: string;
}

/**
 * Hook output as it may be recorded: known secret values and `password=...`-style pairs masked,
 * then only the tail kept (errors come last).
 */
export function sanitizeHookOutput(output: string, options: { maxChars?: number; knownSecrets?: readonly string[] } = {}): { output: string; truncated: boolean } {
  const maxChars = options.maxChars ?? 4096;
  let text = output;
  for (const secret of options.knownSecrets ?? []) if (secret.length >= 4) text = text.split(secret).join('***');
  text = text.replace(/\b((?:[A-Za-z_]*)(?:password|passwd|secret|token)[A-Za-z_]*\s*[=:]\s*)("[^"]*"|'[^']*'|\S+)/gi, '$1***');
  if (text.length <= maxChars) return { output: text, truncated: false };
  return { output: text.slice(text.length - maxChars), truncated: true };
}
