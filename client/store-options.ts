import { s3Settings } from '../config/environment';
import { InvalidInputError } from '../shared/errors';
import { parseStoreUrl, type StoreRef } from '../shared/store-ref';

/** Builds a StoreRef from `--store s3://bucket/prefix` (or S3_BUCKET/S3_PREFIX) and S3_ENDPOINT. */
export function storeRefFromOptions(opts: { store?: string; endpoint?: string }, env = process.env): StoreRef {
  const s3 = s3Settings(env);
  let bucket = s3.bucket;
  let prefix = s3.prefix;
  if (opts.store) {
    const parsed = parseStoreUrl(opts.store);
    if (!parsed) throw new InvalidInputError(`--store: expected s3://bucket[/prefix], got "${opts.store}"`);
    ({ bucket, prefix } = parsed);
  }
  return { endpoint: opts.endpoint ?? s3.endpoint, bucket, prefix, region: s3.region, forcePathStyle: s3.forcePathStyle };
}
