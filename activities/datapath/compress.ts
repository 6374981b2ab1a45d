/**
 * Per-blob compression. Blob plaintext (before encryption) = 1 flag byte | payload, so the flag
 * is never visible in the store. zstd level 1 via `zstd-napi` (Node 20's zlib has no zstd);
 * if the native module cannot load, new blobs use raw DEFLATE level 1 and zstd blobs cannot be
 * read (a clear error says so). Incompressible data is stored raw.
 */
import { deflateRawSync, inflateRawSync, constants as zc } from 'node:zlib';

export enum CompressionFlag {
  Raw = 0,
  Zstd = 1,
  DeflateRaw = 2,
}

/** Keep the compressed form only when it is below this fraction of the input. */
export const COMPRESS_KEEP_RATIO = 0.97;

/**
 * Chunks longer than twice this are first probed: when their first COMPRESS_PROBE_BYTES do not
 * compress below COMPRESS_KEEP_RATIO, the chunk is stored raw without compressing the rest
 * (random, encrypted or already-compressed data costs one small probe instead of a full pass).
 */
export const COMPRESS_PROBE_BYTES = 64 * 1024;

interface ZstdModule {
  Compressor: new () => { setParameters(p: { compressionLevel: number }): void; compress(b: Uint8Array): Buffer };
  decompress(b: Uint8Array): Buffer;
}

let zstd: ZstdModule | undefined;
let zstdLoadError: string | undefined;
try {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  zstd = require('zstd-napi') as ZstdModule;
} catch (e) {
  zstdLoadError = (e as Error).message;
}

let compressor: { compress(b: Uint8Array): Buffer } | undefined;
function zstdCompressor() {
  if (!compressor && zstd) {
    const c = new zstd.Compressor();
    c.setParameters({ compressionLevel: 1 });
    compressor = c;
  }
  return compressor;
}

/** The codec new blobs are written with: 'zstd' when zstd-napi loads, else 'deflate-raw'. */
export function compressionCodec(): 'zstd' | 'deflate-raw' {
  return zstd ? 'zstd' : 'deflate-raw';
}

/**
 * Returns the parts of the blob plaintext: [flag byte, payload]. Parts avoid a copy: the caller
 * feeds them straight into encryptBlob.
 */
export function compressBlob(plain: Uint8Array, allowCompression = true): [Buffer, Uint8Array] {
  if (allowCompression && plain.length >= 64) {
    const z = zstdCompressor();
    const compress = (b: Uint8Array) => (z ? z.compress(b) : deflateRawSync(b, { level: 1, strategy: zc.Z_DEFAULT_STRATEGY }));
    if (plain.length > 2 * COMPRESS_PROBE_BYTES) {
      const probe = plain.subarray(0, COMPRESS_PROBE_BYTES);
      if (compress(probe).length >= probe.length * COMPRESS_KEEP_RATIO) return [Buffer.of(CompressionFlag.Raw), plain];
    }
    const packed = compress(plain);
    if (packed.length < plain.length * COMPRESS_KEEP_RATIO) {
      return [Buffer.of(z ? CompressionFlag.Zstd : CompressionFlag.DeflateRaw), packed];
    }
  }
  return [Buffer.of(CompressionFlag.Raw), plain];
}

/** Inverse of compressBlob on the concatenated plaintext; throws Error with the reason. */
export function decompressBlob(blob: Buffer): Buffer {
  if (blob.length < 1) throw new Error('empty blob plaintext (missing compression flag)');
  const flag = blob[0];
  const payload = blob.subarray(1);
  switch (flag) {
    case CompressionFlag.Raw:
      return payload;
    case CompressionFlag.Zstd:
      if (!zstd) throw new Error(`blob is zstd-compressed but the zstd-napi module cannot load here (${zstdLoadError}); reinstall dependencies`);
      return zstd.decompress(payload);
    case CompressionFlag.DeflateRaw:
      return inflateRawSync(payload);
    default:
      throw new Error(`unknown compression flag ${flag}`);
  }
}
