import { CreateBucketCommand, HeadBucketCommand, S3ServiceException } from '@aws-sdk/client-s3';
import type { StoreRef } from '../../shared/store-ref';
import { InvalidInputError, StoreUnavailableError } from '../../shared/errors';
import { S3ObjectStore } from './s3-object-store';

/** Opens the store a StoreRef names, with credentials from this process's environment. */
export function openStore(ref: StoreRef, env: NodeJS.ProcessEnv = process.env): S3ObjectStore {
  const idVar = ref.credentialsFromEnv?.accessKeyIdVar ?? 'AWS_ACCESS_KEY_ID';
  const secretVar = ref.credentialsFromEnv?.secretAccessKeyVar ?? 'AWS_SECRET_ACCESS_KEY';
  const accessKeyId = env[idVar];
  const secretAccessKey = env[secretVar];
  if (ref.credentialsFromEnv && (!accessKeyId || !secretAccessKey)) {
    throw new InvalidInputError(
      `store credentials: environment variables ${idVar} and ${secretVar} must be set on the worker for ${ref.bucket}`,
    );
  }
  return new S3ObjectStore({
    endpoint: ref.endpoint,
    region: ref.region ?? 'us-east-1',
    bucket: ref.bucket,
    prefix: ref.prefix,
    forcePathStyle: ref.forcePathStyle ?? true,
    accessKeyId,
    secretAccessKey,
  });
}

/** Creates the bucket when it does not exist (idempotent). */
export async function ensureBucket(store: S3ObjectStore): Promise<void> {
  const Bucket = store.config.bucket;
  try {
    await store.client.send(new HeadBucketCommand({ Bucket }));
    return;
  } catch (err) {
    const status = err instanceof S3ServiceException ? err.$metadata.httpStatusCode : undefined;
    if (status !== 404) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new StoreUnavailableError(
        `cannot reach bucket ${Bucket} at ${store.config.endpoint ?? 'AWS S3'}: ${code ?? (err as Error).name}; check S3_ENDPOINT and the credentials`,
        store.location,
      );
    }
  }
  try {
    await store.client.send(new CreateBucketCommand({ Bucket }));
  } catch (err) {
    if ((err as Error).name !== 'BucketAlreadyOwnedByYou') throw err;
  }
}
