/**
 * Repository keys and blob encryption. The repository key (data key, DEK) is 32 random bytes: in
 * a version-2 repository it is generated at init and stored only wrapped (AES-256-GCM) under one
 * or more key-encryption keys (KEKs, base64 from an env var or a Secret; see wrapDataKey); in a
 * version-1 repository the configured key is itself the repository key. Sub-keys are derived with HKDF-SHA256 so one secret serves every purpose:
 *   - idKey:   chunk id = HMAC-SHA256(idKey, plaintext), hex — ids do not reveal content hashes;
 *   - dataKey: AES-256-GCM for every stored blob (chunks, pack trailers, index, manifests);
 *   - checkKey: key check value kept in the clear in repo/config so a wrong key fails fast;
 *   - gearSeed: seeds the chunker's Gear table so chunk sizes do not fingerprint content;
 *   - metaKey: HMAC-SHA256 over metadata kept in the clear (catalogs), so nobody without the key
 *     can change what a restore applies.
 * Blob format: nonce(12) | ciphertext | tag(16). A domain string (AAD) binds each blob to its kind.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { InvalidEncryptionKeyError } from './errors';

export const KEY_BYTES = 32;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const BLOB_OVERHEAD = NONCE_BYTES + TAG_BYTES;
/** GCM in node:crypto is 3× faster fed in ≤256 KiB slices than in one large update. */
const SLICE = 256 * 1024;

/** Domains (AAD) for the kinds of encrypted objects. */
export type BlobDomain = 'chunk' | 'pack-trailer' | 'index' | 'manifest' | 'partial-manifest';

export interface RepositoryKeys {
  idKey: Buffer;
  dataKey: Buffer;
  checkKey: Buffer;
  gearSeed: Buffer;
  metaKey: Buffer;
}

/** Decodes a base64 master key; throws InvalidEncryptionKeyError naming `keyRef` when malformed. */
export function parseMasterKey(base64: string, keyRef = 'the repository encryption key'): Buffer {
  const trimmed = base64.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) throw new InvalidEncryptionKeyError(keyRef, 'not base64');
  const key = Buffer.from(trimmed, 'base64');
  if (key.length !== KEY_BYTES) throw new InvalidEncryptionKeyError(keyRef, `decodes to ${key.length} bytes, expected ${KEY_BYTES}`);
  return key;
}

/** A fresh random master key, base64 (for `drctl repo init` and tests). */
export function generateMasterKey(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}

const HKDF_SALT = Buffer.from('tdr-repository-v1');

function derive(master: Buffer, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', master, HKDF_SALT, info, KEY_BYTES));
}

/**
 * Derives the sub-keys. Deterministic in the repository key alone (no per-repository salt), so a
 * standby repository created from a copy of the primary's repo/config accepts its packs as they are.
 */
export function deriveKeys(master: Buffer): RepositoryKeys {
  if (master.length !== KEY_BYTES) throw new InvalidEncryptionKeyError('the repository encryption key', `is ${master.length} bytes, expected ${KEY_BYTES}`);
  return {
    idKey: derive(master, 'tdr/chunk-id/v1'),
    dataKey: derive(master, 'tdr/data/aes-256-gcm/v1'),
    checkKey: derive(master, 'tdr/key-check/v1'),
    gearSeed: derive(master, 'tdr/chunker-gear/v1'),
    metaKey: derive(master, 'tdr/metadata-mac/v1'),
  };
}

/** The key check value stored in repo/config (reveals nothing about the key). */
export function keyCheckValue(keys: RepositoryKeys): string {
  return createHmac('sha256', keys.checkKey).update('tdr key check v1').digest('hex');
}

export function keyCheckMatches(keys: RepositoryKeys, stored: string): boolean {
  const mine = Buffer.from(keyCheckValue(keys), 'hex');
  const theirs = Buffer.from(stored, 'hex');
  return mine.length === theirs.length && timingSafeEqual(mine, theirs);
}

/** Chunk id: HMAC-SHA256(idKey, plaintext), 64 hex chars. */
export function chunkId(keys: RepositoryKeys, plain: Uint8Array): string {
  return createHmac('sha256', keys.idKey).update(plain).digest('hex');
}

/** Encrypts the concatenation of `parts` → nonce | ciphertext | tag, one allocation for the output. */
export function encryptBlob(keys: RepositoryKeys, domain: BlobDomain, parts: Uint8Array | Uint8Array[]): Buffer {
  const list = Array.isArray(parts) ? parts : [parts];
  let total = 0;
  for (const p of list) total += p.length;
  const out = Buffer.allocUnsafe(NONCE_BYTES + total + TAG_BYTES);
  const nonce = randomBytes(NONCE_BYTES);
  nonce.copy(out, 0);
  const cipher = createCipheriv('aes-256-gcm', keys.dataKey, nonce);
  cipher.setAAD(Buffer.from(domain));
  let pos = NONCE_BYTES;
  for (const p of list) {
    for (let o = 0; o < p.length; o += SLICE) {
      const c = cipher.update(p.subarray(o, Math.min(p.length, o + SLICE)));
      c.copy(out, pos);
      pos += c.length;
    }
  }
  const fin = cipher.final();
  fin.copy(out, pos);
  pos += fin.length;
  cipher.getAuthTag().copy(out, pos);
  return out;
}

/** Thrown by decryptBlob when the tag does not verify (wrong key, or modified/damaged bytes). */
export class BlobAuthenticationError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'BlobAuthenticationError';
  }
}

/** Inverse of encryptBlob; throws BlobAuthenticationError when the blob does not authenticate. */
export function decryptBlob(keys: RepositoryKeys, domain: BlobDomain, blob: Uint8Array): Buffer {
  if (blob.length < BLOB_OVERHEAD) throw new BlobAuthenticationError(`blob of ${blob.length} bytes is shorter than the ${BLOB_OVERHEAD}-byte envelope`);
  const nonce = blob.subarray(0, NONCE_BYTES);
  const ctEnd = blob.length - TAG_BYTES;
  const decipher = createDecipheriv('aes-256-gcm', keys.dataKey, nonce);
  decipher.setAAD(Buffer.from(domain));
  decipher.setAuthTag(blob.subarray(ctEnd));
  const out = Buffer.allocUnsafe(ctEnd - NONCE_BYTES);
  let pos = 0;
  try {
    for (let o = NONCE_BYTES; o < ctEnd; o += SLICE) {
      const p = decipher.update(blob.subarray(o, Math.min(ctEnd, o + SLICE)));
      p.copy(out, pos);
      pos += p.length;
    }
    const fin = decipher.final();
    fin.copy(out, pos);
    pos += fin.length;
  } catch {
    throw new BlobAuthenticationError('authentication tag mismatch (AES-256-GCM)');
  }
  return out.subarray(0, pos);
}

// ---------------------------------------------------------------- envelope keys (repository config v2)

/** A fresh random data key (the repository key of a version-2 repository). */
export function generateDataKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

/**
 * The id of a key-encryption key: 16 hex chars of an HMAC under the key itself, so a config can
 * name which KEK wrapped each entry without revealing anything usable about it.
 */
export function kekId(kek: Buffer): string {
  return createHmac('sha256', kek).update('tdr-kek-id').digest('hex').slice(0, 16);
}

const wrapAad = (id: string) => Buffer.from(`tdr-dek-v1\n${id}`);

/** AES-256-GCM of the data key under `kek`, base64 nonce | ciphertext | tag; the AAD binds the KEK id. */
export function wrapDataKey(kek: Buffer, dek: Buffer): string {
  if (dek.length !== KEY_BYTES) throw new InvalidEncryptionKeyError('the repository data key', `is ${dek.length} bytes, expected ${KEY_BYTES}`);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', kek, nonce);
  cipher.setAAD(wrapAad(kekId(kek)));
  const ct = Buffer.concat([cipher.update(dek), cipher.final()]);
  return Buffer.concat([nonce, ct, cipher.getAuthTag()]).toString('base64');
}

/** Inverse of wrapDataKey; undefined when the entry does not authenticate under `kek`. */
export function unwrapDataKey(kek: Buffer, wrapped: string): Buffer | undefined {
  const raw = Buffer.from(wrapped, 'base64');
  if (raw.length !== NONCE_BYTES + KEY_BYTES + TAG_BYTES) return undefined;
  const decipher = createDecipheriv('aes-256-gcm', kek, raw.subarray(0, NONCE_BYTES));
  decipher.setAAD(wrapAad(kekId(kek)));
  decipher.setAuthTag(raw.subarray(NONCE_BYTES + KEY_BYTES));
  try {
    return Buffer.concat([decipher.update(raw.subarray(NONCE_BYTES, NONCE_BYTES + KEY_BYTES)), decipher.final()]);
  } catch {
    return undefined;
  }
}

/**
 * A key-encryption key held by a KMS: it never leaves the KMS, which wraps and unwraps the data
 * key. `id` names the KMS key (its URL), never a secret; wrapped entries carry the KMS's own
 * ciphertext. unwrap throws a typed error when the KMS refuses (see activities/store/kms-kek.ts).
 */
export interface RemoteKek {
  readonly id: string;
  wrap(dek: Buffer): Promise<string>;
  unwrap(wrapped: string): Promise<Buffer>;
  /** Re-encrypts a wrapped entry under the KMS key's newest version without revealing the data key. */
  rewrap?(wrapped: string): Promise<string>;
}

/** A key-encryption key: 32 local bytes (env variable, Secret) or a KMS key. */
export type Kek = Buffer | RemoteKek;

/** The id a wrapped entry of `kek` carries: 16 hex digits for a local key, the KMS key's id otherwise. */
export function kekIdOf(kek: Kek): string {
  return Buffer.isBuffer(kek) ? kekId(kek) : kek.id;
}

/** wrapDataKey for any key-encryption key. */
export async function wrapDataKeyWith(kek: Kek, dek: Buffer): Promise<string> {
  return Buffer.isBuffer(kek) ? wrapDataKey(kek, dek) : kek.wrap(dek);
}
