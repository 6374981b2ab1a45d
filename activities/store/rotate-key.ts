/**
 * Key rotation of a repository: the repository key is unwrapped with the current key-encryption
 * key and wrapped under the new one in repo/config. Nothing but repo/config is written: packs,
 * indexes, manifests and catalogs stay as they are, and every point stays readable with the new key.
 */
import type { ObjectStore } from './object-store';
import { CONFIG_KEY, parseRepositoryConfig, rotateConfigWith, serializeConfig, unlockDataKeyWith } from '../datapath/repository';
import { kekIdOf, type Kek } from '../datapath/crypto';
import { NotFoundError } from '../../shared/errors';

export interface RotateKeyResult {
  location: string;
  fromKek: string;
  toKek: string;
  /** The config was version 1 (its key was the repository key) and is now version 2. */
  upgradedFromV1: boolean;
  revoked: boolean;
  /** The new key is the current KMS key: its entry was rewrapped under the key's newest version. */
  rewrapped: boolean;
  /** Key ids that open the repository after the rotation. */
  kekIds: string[];
  /** Standby stores: updated to the new config, absent (the next ship copies it), or another repository. */
  standbys: { location: string; outcome: 'updated' | 'absent' | 'other-repository' }[];
}

export async function rotateRepositoryKey(
  store: ObjectStore,
  current: Kek,
  next: Kek,
  opts: { currentRef?: string; newRef?: string; revokeOld?: boolean; standbys?: ObjectStore[] } = {},
): Promise<RotateKeyResult> {
  const raw = await store.get(CONFIG_KEY);
  if (!raw) throw new NotFoundError(`no repository at ${store.location} (${CONFIG_KEY} is absent): nothing to rotate; a new repository is created with the plan's key at the first backup`);
  const config = parseRepositoryConfig(raw, store.location);
  const rotated = await rotateConfigWith(config, current, next, { location: store.location, keyRef: opts.currentRef, revokeCurrent: opts.revokeOld });
  const body = serializeConfig(rotated);
  await store.put(CONFIG_KEY, body, { contentType: 'application/json' });
  // Read back: the stored config must open with the new key before anyone is told to use it.
  const stored = await store.get(CONFIG_KEY);
  await unlockDataKeyWith(parseRepositoryConfig(stored ?? Buffer.alloc(0), store.location), next, { location: store.location, keyRef: opts.newRef });
  const standbys: RotateKeyResult['standbys'] = [];
  for (const s of opts.standbys ?? []) {
    const theirs = await s.get(CONFIG_KEY);
    if (!theirs) {
      standbys.push({ location: s.location, outcome: 'absent' });
      continue;
    }
    // The standby's config is a copy of the primary's: same key check means same repository key.
    if (parseRepositoryConfig(theirs, s.location).keyCheck !== rotated.keyCheck) {
      standbys.push({ location: s.location, outcome: 'other-repository' });
      continue;
    }
    await s.put(CONFIG_KEY, body, { contentType: 'application/json' });
    standbys.push({ location: s.location, outcome: 'updated' });
  }
  return {
    location: store.location,
    fromKek: kekIdOf(current),
    toKek: kekIdOf(next),
    upgradedFromV1: config.version === 1,
    revoked: !!opts.revokeOld,
    rewrapped: !Buffer.isBuffer(next) && kekIdOf(current) === kekIdOf(next),
    kekIds: (rotated.wrappedKeys ?? []).map((w) => w.kek),
    standbys,
  };
}
