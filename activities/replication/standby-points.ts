import { newestPoint } from '../catalog/points';
import { openStore } from '../store/open-store';
import { openRepositoryKeys } from '../store/open-repository';
import type { ShippedPoint } from '../../shared/replication';
import type { KeyRef, StoreRef } from '../../shared/store-ref';

/**
 * The newest point of a plan complete at a standby store (its catalog landed and authenticates),
 * from the store alone; undefined when it holds none yet. `bytesShipped` is 0: the store does not
 * record it. `key` is absent only in runs started before catalogs were signed.
 */
export async function newestPointAtStandby(standby: StoreRef, planName: string, key?: KeyRef): Promise<ShippedPoint | undefined> {
  const store = openStore(standby);
  const keys = key ? await openRepositoryKeys(standby, key, { absent: 'undefined' }) : undefined;
  if (key && !keys) return undefined;
  const newest = await newestPoint(store, planName, keys);
  if (!newest) return undefined;
  const { catalog } = newest;
  return { pointId: newest.pointId, capturedAt: catalog.startedAt, shippedAt: catalog.completedAt, bytesShipped: 0 };
}
