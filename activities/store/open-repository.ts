import type { KeyRef, StoreRef } from '../../shared/store-ref';

export type { KeyRef };
import { InvalidInputError } from '../../shared/errors';
import { Repository } from '../datapath/repository';
import { parseMasterKey } from '../datapath/crypto';
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
export async function openRepository(ref: StoreRef, keyRef: KeyRef, opts: { create: boolean }): Promise<Repository> {
  const store = openStore(ref);
  const key = readMasterKey(keyRef);
  return opts.create ? Repository.init(store, key) : Repository.open(store, key);
}
