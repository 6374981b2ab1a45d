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

/**
 * Where workers find a repository's key-encryption key (base64, 32 bytes); the key itself never
 * leaves the workers. Either an environment variable set on every worker and node agent, or a key
 * of a Kubernetes Secret: the orchestrator and drctl read it through the kubeconfig context
 * `context` names; a node agent reads it from its own cluster (the Secret must exist there).
 */
export type KeyRef = { env: string } | { secret: { namespace: string; name: string; key: string }; context?: string };

/** Where the key comes from, for messages: "environment variable X" or "Secret ns/name, key 'k'". */
export function describeKeyRef(ref: KeyRef): string {
  if ('env' in ref) return `environment variable ${ref.env}`;
  const s = ref.secret;
  return `Secret ${s.namespace}/${s.name}, key '${s.key}'${ref.context ? ` (context ${ref.context})` : ''}`;
}
