/** Per-test buckets on the run's shared MinIO server. */
import { openStore, ensureBucket } from '../../activities/store/open-store';
import type { S3ObjectStore } from '../../activities/store/s3-object-store';
import type { StoreRef } from '../../shared/store-ref';
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
