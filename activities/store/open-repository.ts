/**
 * Opening a plan's repository: every reader of the repository key goes through resolveKek, which
 * turns a KeyRef (environment variable or Kubernetes Secret) into the key-encryption key that
 * unwraps the repository key (version-2 repositories) or is the repository key (version 1).
 */
import * as k8s from '@kubernetes/client-node';
import { describeKeyRef, type KeyRef, type StoreRef } from '../../shared/store-ref';

export type { KeyRef };
import { InvalidInputError } from '../../shared/errors';
import { CONFIG_KEY, Repository } from '../datapath/repository';
import { parseMasterKey, type Kek, type RepositoryKeys } from '../datapath/crypto';
import { transitKek } from './kms-kek';
import { classifyKubeError, connectCluster, loadKubeConfig } from '../kube/cluster';
import { openStore } from './open-store';

/** The key in an environment variable (synchronous: env keys need no I/O). */
export function readMasterKey(keyRef: { env: string }, env: NodeJS.ProcessEnv = process.env): Buffer {
  const value = env[keyRef.env];
  if (!value) {
    throw new InvalidInputError(
      `encryption key: environment variable ${keyRef.env} is not set on this worker; set it to the repository's base64 32-byte key (generate one with \`drctl key generate\`)`,
    );
  }
  return parseMasterKey(value, `the key in ${keyRef.env}`);
}

/** Reads one key of a Secret; undefined value when the Secret exists without that key. */
export type SecretReader = (ref: { namespace: string; name: string; key: string }, context: string | undefined) => Promise<string | undefined>;

/** A SecretReader that asks one cluster's API, whatever context the reference names. */
export function secretReaderFor(core: k8s.CoreV1Api, cluster: string): SecretReader {
  return async (ref) => {
    const secret = await core.readNamespacedSecret({ namespace: ref.namespace, name: ref.name }).catch((e: unknown) => {
      throw classifyKubeError(e, cluster, 'get', `Secret ${ref.namespace}/${ref.name} (the repository encryption key)`);
    });
    const b64 = secret.data?.[ref.key];
    return b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8');
  };
}

/**
 * The orchestrator and drctl read a Secret through the kubeconfig context the reference names
 * (TDR_KUBECONFIG, else KUBECONFIG, else ~/.kube/config; the current context when it names none).
 */
export const readSecretKey: SecretReader = async (ref, context) => {
  if (processSecretReader) return processSecretReader(ref, context);
  const cluster = context ? connectCluster(context) : undefined;
  const kc = cluster?.kc ?? loadKubeConfig();
  return secretReaderFor(cluster?.core ?? kc.makeApiClient(k8s.CoreV1Api), context ?? kc.getCurrentContext())(ref, context);
};

let processSecretReader: SecretReader | undefined;

/**
 * Makes this process read key Secrets with `reader`: a node agent reads them from its own cluster
 * (the one it backs up or restores into), never through another context.
 */
export function useSecretReader(reader: SecretReader | undefined): void {
  processSecretReader = reader;
}

/**
 * The key-encryption key `keyRef` names. A Secret's key holds the base64 key text (as the env
 * variable does), so `kubectl create secret generic … --from-literal=key=$(drctl key generate)` works.
 * A KMS key stays in the KMS: this gives a RemoteKek that calls it with the token `tokenFrom` names
 * (an env variable, or a Secret read like a key Secret).
 */
export async function resolveKek(keyRef: KeyRef, deps: { env?: NodeJS.ProcessEnv; readSecret?: SecretReader } = {}): Promise<Kek> {
  if ('env' in keyRef) return readMasterKey(keyRef, deps.env);
  if ('kms' in keyRef) return transitKek(keyRef.kms, await kmsToken(keyRef, deps), describeKmsTokenRef(keyRef));
  const where = describeKeyRef(keyRef);
  const value = await (deps.readSecret ?? readSecretKey)(keyRef.secret, keyRef.context);
  if (value === undefined) throw new InvalidInputError(`encryption key: ${where} has no key '${keyRef.secret.key}'; add it (a base64 32-byte key, \`drctl key generate\`)`);
  return parseMasterKey(value, where);
}

function describeKmsTokenRef(keyRef: Extract<KeyRef, { kms: unknown }>): string {
  const t = keyRef.kms.tokenFrom;
  return 'env' in t ? `environment variable ${t.env}` : `Secret ${t.secret.namespace}/${t.secret.name}, key '${t.secret.key}'${keyRef.context ? ` (context ${keyRef.context})` : ''}`;
}

/** The KMS token `tokenFrom` names; InvalidInputError naming where it was looked for when absent. */
async function kmsToken(keyRef: Extract<KeyRef, { kms: unknown }>, deps: { env?: NodeJS.ProcessEnv; readSecret?: SecretReader }): Promise<string> {
  const t = keyRef.kms.tokenFrom;
  const value = 'env' in t ? (deps.env ?? process.env)[t.env] : await (deps.readSecret ?? readSecretKey)(t.secret, keyRef.context);
  const token = value?.trim();
  if (!token) {
    throw new InvalidInputError(
      `encryption key: the token for ${describeKeyRef(keyRef)} is not in ${describeKmsTokenRef(keyRef)}; set it to a KMS token allowed to encrypt and decrypt with that key (see README, Repository encryption)`,
    );
  }
  return token;
}

/** Opens the repository at `ref`, creating it on first use; a wrong key fails fast with a typed error. */
export async function openRepository(ref: StoreRef, keyRef: KeyRef, opts: { create: boolean; skipIndex?: boolean }): Promise<Repository> {
  const store = openStore(ref);
  const key = await resolveKek(keyRef);
  const keyOpts = { keyRef: describeKeyRef(keyRef) };
  return opts.create ? Repository.init(store, key, keyOpts) : Repository.open(store, key, { ...keyOpts, skipIndex: opts.skipIndex });
}

/**
 * The repository's keys, checked against its config (a wrong key fails as WrongEncryptionKeyError),
 * without loading the chunk index: for reading and writing catalogs. A store with no repository
 * fails with NotFoundError, or gives undefined with `absent: 'undefined'` (nothing to read there).
 */
export async function openRepositoryKeys(ref: StoreRef, keyRef: KeyRef): Promise<RepositoryKeys>;
export async function openRepositoryKeys(ref: StoreRef, keyRef: KeyRef, opts: { absent: 'undefined' }): Promise<RepositoryKeys | undefined>;
export async function openRepositoryKeys(ref: StoreRef, keyRef: KeyRef, opts?: { absent: 'undefined' }): Promise<RepositoryKeys | undefined> {
  const store = openStore(ref);
  if (opts?.absent === 'undefined' && !(await store.get(CONFIG_KEY))) return undefined;
  return (await Repository.open(store, await resolveKek(keyRef), { skipIndex: true, keyRef: describeKeyRef(keyRef) })).keys;
}
