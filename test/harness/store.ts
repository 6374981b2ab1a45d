/** Per-test buckets on the run's shared MinIO server. */
import { openStore, ensureBucket } from '../../activities/store/open-store';
import type { S3ObjectStore } from '../../activities/store/s3-object-store';
import type { StoreRef } from '../../shared/store-ref';
import { readCatalog } from '../../activities/catalog/points';
import { openRepositoryKeys } from '../../activities/store/open-repository';
import { planKeyRef, planToStoreRef, type Plan } from '../../shared/plan';
import type { Catalog } from '../../shared/catalog';
import { uniqueId } from './temporal';

export function testStoreRef(bucket = uniqueId('tdr').toLowerCase(), prefix = ''): StoreRef {
  const endpoint = process.env.S3_ENDPOINT;
  if (!endpoint) throw new Error('S3_ENDPOINT is not set: run tests through jest so the global setup starts MinIO');
  return { endpoint, bucket, prefix, region: 'us-east-1', forcePathStyle: true };
}

/** A fresh, empty bucket for one test. */
export async function freshStore(prefix = ''): Promise<{ ref: StoreRef; store: S3ObjectStore }> {
  const ref = testStoreRef(undefined, prefix);
  const store = openStore(ref);
  await ensureBucket(store);
  return { ref, store };
}

/** A point's catalog, authenticated with the plan's key (from the plan's store, or `ref`). */
export async function readPlanCatalog(plan: Plan, pointId: string, ref: StoreRef = planToStoreRef(plan)): Promise<Catalog> {
  return readCatalog(openStore(ref), plan.metadata.name, pointId, await openRepositoryKeys(ref, planKeyRef(plan)));
}
