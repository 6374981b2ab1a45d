import { createHash } from 'node:crypto';
import type { ObjectStore } from '../store/object-store';
import { getAuthentic, getRequired } from '../store/object-store';
import { catalogKey, parseCatalog, parsePointKey, type Catalog } from '../../shared/catalog';
import { NotFoundError } from '../../shared/errors';
import type { RepositoryKeys } from '../datapath/crypto';
import { CatalogAuthenticationError, openCatalog } from './catalog-auth';

export interface PointSummary {
  planName: string;
  pointId: string;
  /** `untrusted`: its catalog failed authentication (only when listed with the key). */
  status: 'complete' | 'in-progress' | 'failed' | 'untrusted';
  /** For complete points: whether the catalog was authenticated (listing without the key cannot). */
  verified?: boolean;
  completedAt?: string;
  resources?: number;
  volumes?: number;
  bytes?: number;
  reason?: string;
}

/**
 * Every recovery point in the store (optionally of one plan), newest first, from the objects alone.
 * With the repository's keys every catalog is authenticated, and one that fails is `untrusted`;
 * without them complete points are listed as unverified metadata.
 */
export async function listPoints(store: ObjectStore, planName?: string, keys?: RepositoryKeys): Promise<PointSummary[]> {
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
      let c: Catalog;
      try {
        c = keys ? await readCatalog(store, plan, pointId, keys) : await readUnverifiedCatalog(store, plan, pointId);
      } catch (err) {
        if (!(err instanceof CatalogAuthenticationError)) throw err;
        out.push({ planName: plan, pointId, status: 'untrusted', reason: err.message });
        continue;
      }
      out.push({ planName: plan, pointId, status: 'complete', verified: !!keys, completedAt: c.completedAt, resources: c.totals.resources, volumes: c.totals.volumes, bytes: c.totals.bytes });
    } else if (files.has('failed.json')) {
      const f = JSON.parse((await store.get(`points/${plan}/${pointId}/failed.json`))?.toString('utf8') ?? '{}');
      out.push({ planName: plan, pointId, status: 'failed', reason: f.reason });
    } else {
      out.push({ planName: plan, pointId, status: 'in-progress' });
    }
  }
  return out.sort((a, b) => (a.pointId < b.pointId ? 1 : -1));
}

/** `accept`: the catalog's authentication, so a tampered current version falls back to the locked one (getAuthentic). */
async function getCatalogBody(store: ObjectStore, planName: string, pointId: string, accept?: (body: Buffer) => boolean): Promise<string> {
  const key = catalogKey(planName, pointId);
  const body = accept ? await getAuthentic(store, key, accept, { evenIfDeleted: true }) : await store.get(key);
  if (!body) {
    throw new NotFoundError(
      `recovery point ${planName}/${pointId} has no catalog in ${store.location}: it does not exist or is incomplete; list points with \`drctl points list\``,
    );
  }
  return body.toString('utf8');
}

/** A point's catalog, authenticated with the repository's keys: the only form anything may act on. */
export async function readCatalog(store: ObjectStore, planName: string, pointId: string, keys: RepositoryKeys): Promise<Catalog> {
  const where = `${store.location}/${catalogKey(planName, pointId)}`;
  const at = { planName, pointId, where };
  let opened: Catalog | undefined;
  const body = await getCatalogBody(store, planName, pointId, (b) => !!(opened = openCatalog(keys, b.toString('utf8'), at)));
  return opened ?? openCatalog(keys, body, at);
}

/** A point's catalog as stored, not authenticated: for showing metadata without the key, never for acting on it. */
export async function readUnverifiedCatalog(store: ObjectStore, planName: string, pointId: string): Promise<Catalog> {
  return parseCatalog(await getCatalogBody(store, planName, pointId), `${store.location}/${catalogKey(planName, pointId)}`);
}

/**
 * The newest complete point of a plan and its catalog (with keys: the newest whose catalog
 * authenticates), or undefined. One listing, then catalogs read newest first only until one
 * qualifies: a plan's thousandth point costs what its first did.
 */
export async function newestPoint(store: ObjectStore, planName: string, keys?: RepositoryKeys): Promise<{ pointId: string; catalog: Catalog } | undefined> {
  const withCatalog: string[] = [];
  for await (const o of store.list(`points/${planName}/`)) {
    const p = parsePointKey(o.key);
    if (p && p.planName === planName && o.key === catalogKey(planName, p.pointId)) withCatalog.push(p.pointId);
  }
  for (const pointId of withCatalog.sort().reverse()) {
    try {
      return { pointId, catalog: keys ? await readCatalog(store, planName, pointId, keys) : await readUnverifiedCatalog(store, planName, pointId) };
    } catch (err) {
      if (!(err instanceof CatalogAuthenticationError)) throw err;
    }
  }
  return undefined;
}

/** The id of the newest complete point of a plan (with keys: the newest whose catalog authenticates). */
export async function latestPoint(store: ObjectStore, planName: string, keys?: RepositoryKeys): Promise<string> {
  const newest = await newestPoint(store, planName, keys);
  if (!newest) throw new NotFoundError(`plan ${planName} has no complete recovery point in ${store.location}`);
  return newest.pointId;
}

/** Resolves `plan/point`, `plan/latest` or a bare point id (searched across plans). */
export async function resolvePointRef(store: ObjectStore, ref: string, keys?: RepositoryKeys): Promise<{ planName: string; pointId: string }> {
  const [a, b] = ref.split('/');
  if (b) return { planName: a, pointId: b === 'latest' ? await latestPoint(store, a, keys) : b };
  const match = (await listPoints(store, undefined, keys)).filter((p) => p.pointId === ref && p.status === 'complete');
  if (match.length !== 1) {
    throw new NotFoundError(`point "${ref}" ${match.length ? 'is ambiguous' : 'was not found'} in ${store.location}; name it as <plan>/<point-id> or <plan>/latest`);
  }
  return { planName: match[0].planName, pointId: ref };
}

export const sha256Of = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export { getRequired };
