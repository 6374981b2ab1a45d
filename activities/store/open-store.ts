import { readFileSync } from 'node:fs';
import { CreateBucketCommand, HeadBucketCommand, S3ServiceException } from '@aws-sdk/client-s3';
import type { StoreRef } from '../../shared/store-ref';
import { InvalidInputError, StoreUnavailableError } from '../../shared/errors';
import { S3ObjectStore, storeTlsError } from './s3-object-store';

/**
 * S3_CA_FILE: a PEM file of CA certificates trusted for https store endpoints, on top of the CAs
 * Node trusts (for a store whose certificate a private CA signed). Unset or empty: none.
 */
export function readStoreCa(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = env.S3_CA_FILE;
  if (!file) return undefined;
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InvalidInputError(
      `S3_CA_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); ` +
        "set it to a readable PEM file holding the CA certificate that signed the object store's certificate, or unset it",
    );
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new InvalidInputError(
      `S3_CA_FILE: ${file} holds no PEM certificate (no "-----BEGIN CERTIFICATE-----" line); set it to the CA certificate in PEM form`,
    );
  }
  return pem;
}

/** Opens the store a StoreRef names, with credentials (and S3_CA_FILE) from this process's environment. */
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
    ca: readStoreCa(env),
    ...(ref.objectLock ? { objectLock: ref.objectLock } : {}),
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
      const tlsError = storeTlsError(err, store.config.endpoint, store.location, `HEAD bucket ${Bucket}`);
      if (tlsError) throw tlsError;
      const code = (err as NodeJS.ErrnoException).code;
      throw new StoreUnavailableError(
        `cannot reach bucket ${Bucket} at ${store.config.endpoint ?? 'AWS S3'}: ${code ?? (err as Error).name}; check S3_ENDPOINT and the credentials`,
        store.location,
      );
    }
  }
  try {
    await store.client.send(new CreateBucketCommand({ Bucket, ...(store.config.objectLock ? { ObjectLockEnabledForBucket: true } : {}) }));
  } catch (err) {
    if ((err as Error).name !== 'BucketAlreadyOwnedByYou') throw err;
  }
}

/**
 * A plan with spec.store.objectLock needs a bucket with Object Lock enabled: without it S3 refuses
 * every locked write, or (some servers) ignores the lock. Checked before a backup writes anything.
 */
export async function checkObjectLock(store: S3ObjectStore): Promise<void> {
  const lock = store.config.objectLock;
  if (!lock) return;
  const enabled = await store.objectLockEnabled();
  if (enabled === false) {
    throw new InvalidInputError(
      `spec.store.objectLock: bucket ${store.config.bucket} at ${store.config.endpoint ?? 'AWS S3'} does not have Object Lock enabled, so points cannot be locked (${lock.mode}, ${lock.retention}); ` +
        'create the bucket with Object Lock enabled (`mc mb --with-lock`, `aws s3api create-bucket --object-lock-enabled-for-bucket`) and point spec.store.url at it, or remove spec.store.objectLock',
    );
  }
}
