/**
 * Where a repository lives. Carries no secret: credentials are resolved by the worker that
 * opens the store (from its environment or a Kubernetes Secret), never passed through Temporal.
 */
export interface StoreRef {
  /** S3 endpoint URL; omitted for AWS S3. */
  endpoint?: string;
  bucket: string;
  /** Key prefix inside the bucket (no leading/trailing slash); '' for the bucket root. */
  prefix: string;
  region?: string;
  forcePathStyle?: boolean;
  /** Names of the environment variables holding the access key id and secret on the worker. */
  credentialsFromEnv?: { accessKeyIdVar: string; secretAccessKeyVar: string };
}

export const storeUrl = (ref: StoreRef): string => `s3://${ref.bucket}${ref.prefix ? '/' + ref.prefix : ''}`;

/** Parses `s3://bucket/prefix`; returns undefined when the string is not of that form. */
export function parseStoreUrl(url: string): { bucket: string; prefix: string } | undefined {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (!m) return undefined;
  return { bucket: m[1], prefix: (m[2] ?? '').replace(/^\/+|\/+$/g, '') };
}

/** Where workers find a repository's encryption key; the key itself never leaves the workers. */
export interface KeyRef {
  /** Name of the environment variable that holds the base64 32-byte key on every worker. */
  env: string;
}
