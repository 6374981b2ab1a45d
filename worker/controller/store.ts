/**
 * The controller's object-store side, thin: the newest point of a plan (for status.lastPoint) and
 * the removal of a deleted plan's points (deletionPolicy Delete).
 */
import { newestPoint } from '../../activities/catalog/points';
import { listAll } from '../../activities/store/object-store';
import { openStore } from '../../activities/store/open-store';
import { openRepositoryKeys } from '../../activities/store/open-repository';
import { planKeyRef, planToStoreRef, type Plan } from '../../shared/plan';

export interface StoreAdapter {
  /** The newest complete point whose catalog authenticates under the plan's key (unverified when the key cannot be read here). */
  lastPoint(plan: Plan): Promise<{ id: string; time?: string } | undefined>;
  /** Removes every point of the plan: each catalog first (so none looks complete while half gone), then the rest. Packs go at the next GC. */
  deletePoints(plan: Plan): Promise<number>;
}

export function storeAdapter(): StoreAdapter {
  return {
    async lastPoint(plan) {
      const ref = planToStoreRef(plan);
      const store = openStore(ref);
      const keys = await openRepositoryKeys(ref, planKeyRef(plan), { absent: 'undefined' }).catch(() => undefined);
      const newest = await newestPoint(store, plan.metadata.name, keys);
      if (!newest) return undefined;
      return { id: newest.pointId, time: newest.catalog.createdAt };
    },
    async deletePoints(plan) {
      const store = openStore(planToStoreRef(plan));
      const keys = (await listAll(store, `points/${plan.metadata.name}/`)).map((o) => o.key);
      const catalogs = keys.filter((k) => k.endsWith('/catalog.json'));
      if (catalogs.length) await store.delete(catalogs);
      const rest = keys.filter((k) => !k.endsWith('/catalog.json'));
      for (let i = 0; i < rest.length; i += 1000) await store.delete(rest.slice(i, i + 1000));
      return catalogs.length;
    },
  };
}
