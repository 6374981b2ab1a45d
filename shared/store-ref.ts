import type { ObjectLockRef } from './object-lock';

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
  /** spec.store.objectLock: recovery points are written under S3 Object Lock (shared/object-lock.ts). */
  objectLock?: ObjectLockRef;
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
 * Or a key of a KMS (KmsKeyRef), which never leaves it: only the token is read, as a Secret is.
 */
export type KeyRef =
  | { env: string }
  | { secret: { namespace: string; name: string; key: string }; context?: string }
  | { kms: KmsKeyRef; context?: string };

/**
 * A key of a Vault-compatible KMS's transit engine (OpenBao, HashiCorp Vault): the key-encryption
 * key never leaves the KMS, which wraps and unwraps the repository key. The token that may call
 * `<mount>/encrypt/<keyName>` and `<mount>/decrypt/<keyName>` comes from an environment variable or
 * a Secret key (read like `secret` keys, through `context`); only its reference travels, never it.
 */
export interface KmsKeyRef {
  /** The KMS's base URL, e.g. https://openbao.example:8200 (no /v1). */
  address: string;
  /** The transit engine's mount path (`transit`). */
  mount: string;
  keyName: string;
  tokenFrom: { env: string } | { secret: { namespace: string; name: string; key: string } };
  /** PEM file of the CA(s) trusted for an https address besides Node's bundled CAs. */
  caFile?: string;
}

/** The KMS key's URL, `<address>/v1/<mount>/keys/<keyName>`: what a wrapped entry's id names. */
export function kmsKeyUrl(k: Pick<KmsKeyRef, 'address' | 'mount' | 'keyName'>): string {
  return `${k.address.replace(/\/+$/, '')}/v1/${k.mount.replace(/^\/+|\/+$/g, '')}/keys/${k.keyName}`;
}

/** Where the key comes from, for messages: "environment variable X", "Secret ns/name, key 'k'" or "KMS key <url>". */
export function describeKeyRef(ref: KeyRef): string {
  if ('env' in ref) return `environment variable ${ref.env}`;
  if ('kms' in ref) return `KMS key ${kmsKeyUrl(ref.kms)}`;
  const s = ref.secret;
  return `Secret ${s.namespace}/${s.name}, key '${s.key}'${ref.context ? ` (context ${ref.context})` : ''}`;
}
