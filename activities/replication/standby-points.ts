import { listPoints, readCatalog } from '../catalog/points';
import { openStore } from '../store/open-store';
import type { ShippedPoint } from '../../shared/replication';
import type { StoreRef } from '../../shared/store-ref';

/**
 * The newest point of a plan complete at a standby store (its catalog landed), from the store
 * alone; undefined when it holds none yet. `bytesShipped` is 0: the store does not record it.
 */
export async function newestPointAtStandby(standby: StoreRef, planName: string): Promise<ShippedPoint | undefined> {
  const store = openStore(standby);
  const newest = (await listPoints(store, planName)).find((p) => p.status === 'complete');
  if (!newest) return undefined;
  const catalog = await readCatalog(store, planName, newest.pointId);
  return { pointId: newest.pointId, capturedAt: catalog.startedAt, shippedAt: catalog.completedAt, bytesShipped: 0 };
}
