/**
 * Pack objects: many encrypted blobs in one S3 object of a few MiB, followed by an encrypted
 * trailer listing them, so the index can be rebuilt from the packs alone.
 *
 *   pack    = blob* | trailer | u32le(trailer length) | "TDRPACK1"
 *   blob    = nonce(12) | AES-256-GCM(flag | payload) | tag(16)          (domain "chunk")
 *   trailer = nonce | AES-256-GCM(JSON {v:1, blobs:[[id, offset, length, rawLength]]}) | tag
 *
 * Pack id = SHA-256 of the whole pack body (hex), stored at repo/packs/<id[0..2]>/<id>.
 */
import { createHash } from 'node:crypto';
import { decryptBlob, encryptBlob, type RepositoryKeys } from './crypto';

export const PACK_MAGIC = Buffer.from('TDRPACK1');
export const PACK_FOOTER_BYTES = 4 + PACK_MAGIC.length;

/** One blob in a pack: chunk id, byte range of its encrypted form, and its plaintext length. */
export interface PackEntry {
  id: string;
  offset: number;
  length: number;
  rawLength: number;
}

export interface FinishedPack {
  id: string;
  body: Buffer;
  entries: PackEntry[];
}

export function packKey(packId: string): string {
  return `repo/packs/${packId.slice(0, 2)}/${packId}`;
}

export function packIdFromKey(key: string): string | undefined {
  const m = /^repo\/packs\/[0-9a-f]{2}\/([0-9a-f]{64})$/.exec(key);
  return m ? m[1] : undefined;
}

export class PackWriter {
  private parts: Buffer[] = [];
  private _size = 0;
  readonly entries: PackEntry[] = [];

  get size(): number {
    return this._size;
  }
  get count(): number {
    return this.entries.length;
  }

  add(id: string, encrypted: Buffer, rawLength: number): void {
    this.entries.push({ id, offset: this._size, length: encrypted.length, rawLength });
    this.parts.push(encrypted);
    this._size += encrypted.length;
  }

  finish(keys: RepositoryKeys): FinishedPack {
    const trailerPlain = Buffer.from(JSON.stringify({ v: 1, blobs: this.entries.map((e) => [e.id, e.offset, e.length, e.rawLength]) }));
    const trailer = encryptBlob(keys, 'pack-trailer', trailerPlain);
    const footer = Buffer.alloc(PACK_FOOTER_BYTES);
    footer.writeUInt32LE(trailer.length, 0);
    PACK_MAGIC.copy(footer, 4);
    const body = Buffer.concat([...this.parts, trailer, footer]);
    const id = createHash('sha256').update(body).digest('hex');
    const entries = this.entries.slice();
    this.parts = [];
    this._size = 0;
    this.entries.length = 0;
    return { id, body, entries };
  }
}

/** Length of the trailer blob from a pack's last PACK_FOOTER_BYTES bytes. */
export function parsePackFooter(footer: Buffer): number {
  if (footer.length !== PACK_FOOTER_BYTES || !footer.subarray(4).equals(PACK_MAGIC)) {
    throw new Error('pack footer magic missing (not a pack, or truncated)');
  }
  return footer.readUInt32LE(0);
}

/** Decrypts and parses a pack trailer (throws on authentication or format failure). */
export function parsePackTrailer(keys: RepositoryKeys, trailer: Buffer): PackEntry[] {
  const json = JSON.parse(decryptBlob(keys, 'pack-trailer', trailer).toString('utf8')) as { v: number; blobs: [string, number, number, number][] };
  if (json.v !== 1 || !Array.isArray(json.blobs)) throw new Error(`unsupported pack trailer version ${json.v}`);
  return json.blobs.map(([id, offset, length, rawLength]) => ({ id, offset, length, rawLength }));
}
