import { createHash } from 'node:crypto';
import type { ObjectStore } from '../store/object-store';
import { getRequired } from '../store/object-store';
import { catalogKey, parseCatalog, parsePointKey, type Catalog } from '../../shared/catalog';
import { NotFoundError } from '../../shared/errors';

export interface PointSummary {
  planName: string;
  pointId: string;
  status: 'complete' | 'in-progress' | 'failed';
  completedAt?: string;
  resources?: number;
  volumes?: number;
  bytes?: number;
  reason?: string;
}

/** Every recovery point in the store (optionally of one plan), newest first, from the objects alone. */
export async function listPoints(store: ObjectStore, planName?: string): Promise<PointSummary[]> {
  const seen = new Map<string, { planName: string; pointId: string; files: Set<string> }>();
  for await (const o of store.list(planName ? `points/${planName}/` : 'points/')) {
    const p = parsePointKey(o.key);
    if (!p) continue;
    const k = `${p.planName}/${p.pointId}`;
    if (!seen.has(k)) seen.set(k, { ...p, files: new Set() });
    seen.get(k)!.files.add(o.key.split('/').slice(3).join('/'));
  }
  const out: PointSummary[] = [];
  for (const { planName: plan, pointId, files } of seen.values()) {
    if (files.has('catalog.json')) {
      const c = await readCatalog(store, plan, pointId);
      out.push({ planName: plan, pointId, status: 'complete', completedAt: c.completedAt, resources: c.totals.resources, volumes: c.totals.volumes, bytes: c.totals.bytes });
    } else if (files.has('failed.json')) {
      const f = JSON.parse((await store.get(`points/${plan}/${pointId}/failed.json`))?.toString('utf8') ?? '{}');
      out.push({ planName: plan, pointId, status: 'failed', reason: f.reason });
    } else {
      out.push({ planName: plan, pointId, status: 'in-progress' });
    }
  }
  return out.sort((a, b) => (a.pointId < b.pointId ? 1 : -1));
}

export async function readCatalog(store: ObjectStore, planName: string, pointId: string): Promise<Catalog> {
  const body = await store.get(catalogKey(planName, pointId));
  if (!body) {
    throw new NotFoundError(
      `recovery point ${planName}/${pointId} has no catalog in ${store.location}: it does not exist or is incomplete; list points with \`drctl points list\``,
    );
  }
  return parseCatalog(body.toString('utf8'), `${store.location}/${catalogKey(planName, pointId)}`);
}

/** The newest complete point of a plan. */
export async function latestPoint(store: ObjectStore, planName: string): Promise<string> {
  const complete = (await listPoints(store, planName)).filter((p) => p.status === 'complete');
  if (!complete.length) throw new NotFoundError(`plan ${planName} has no complete recovery point in ${store.location}`);
  return complete[0].pointId;
}

/** Resolves `plan/point`, `plan/latest` or a bare point id (searched across plans). */
export async function resolvePointRef(store: ObjectStore, ref: string): Promise<{ planName: string; pointId: string }> {
  const [a, b] = ref.split('/');
  if (b) return { planName: a, pointId: b === 'latest' ? await latestPoint(store, a) : b };
  const match = (await listPoints(store)).filter((p) => p.pointId === ref && p.status === 'complete');
  if (match.length !== 1) {
    throw new NotFoundError(`point "${ref}" ${match.length ? 'is ambiguous' : 'was not found'} in ${store.location}; name it as <plan>/<point-id> or <plan>/latest`);
  }
  return { planName: match[0].planName, pointId: ref };
}

export const sha256Of = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export { getRequired };
