import type { KeyRef, StoreRef } from '../../shared/store-ref';

export type { KeyRef };
import { InvalidInputError } from '../../shared/errors';
import { CONFIG_KEY, Repository } from '../datapath/repository';
import { parseMasterKey, type RepositoryKeys } from '../datapath/crypto';
import { openStore } from './open-store';


export function readMasterKey(keyRef: KeyRef, env: NodeJS.ProcessEnv = process.env): Buffer {
  const value = env[keyRef.env];
  if (!value) {
    throw new InvalidInputError(
      `encryption key: environment variable ${keyRef.env} is not set on this worker; set it to the repository's base64 32-byte key (generate one with \`drctl key generate\`)`,
    );
  }
  return parseMasterKey(value, `the key in ${keyRef.env}`);
}

/** Opens the repository at `ref`, creating it on first use; a wrong key fails fast with a typed error. */
export async function openRepository(ref: StoreRef, keyRef: KeyRef, opts: { create: boolean; skipIndex?: boolean }): Promise<Repository> {
  const store = openStore(ref);
  const key = readMasterKey(keyRef);
  return opts.create ? Repository.init(store, key) : Repository.open(store, key, { skipIndex: opts.skipIndex });
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
  return (await Repository.open(store, readMasterKey(keyRef), { skipIndex: true, keyRef: `the key in ${keyRef.env}` })).keys;
}
