import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { compressBlob, decompressBlob } from '../../../activities/datapath/compress';
import { chunkId, decryptBlob, deriveKeys, encryptBlob } from '../../../activities/datapath/crypto';
import { ChunkCorruptedError, Repository } from '../../../activities/datapath';
import { PACK_FOOTER_BYTES, PackWriter, packIdFromKey, packKey, parsePackFooter, parsePackTrailer, type FinishedPack } from '../../../activities/datapath/pack';
import { MemoryObjectStore } from '../../../activities/store/memory-object-store';
import { newRepo, testKey } from '../datapath/helpers';

const keys = deriveKeys(testKey());

/** Buffer lists compared with Buffer.equals: jest's deep equality walks buffers byte by byte. */
const sameBuffers = (a: Buffer[], b: Buffer[]) => a.length === b.length && a.every((x, i) => x.equals(b[i]!));

/** Incompressible, compressible and empty blobs, some repeated. */
const blob = fc.oneof(
  fc.uint8Array({ maxLength: 3000 }).map((b) => Buffer.from(b)),
  fc.tuple(fc.string({ maxLength: 20 }), fc.nat(200)).map(([s, n]) => Buffer.from(s.repeat(n))),
);
const blobs = fc.array(blob, { minLength: 1, maxLength: 12 });

function writePack(plains: Buffer[]): FinishedPack {
  const writer = new PackWriter();
  for (const p of plains) writer.add(chunkId(keys, p), encryptBlob(keys, 'chunk', compressBlob(p)), p.length);
  return writer.finish(keys);
}

/** Reads a pack the way an index rebuild and a restore do: footer, trailer, then every blob. */
function readPack(body: Buffer): Buffer[] {
  const trailerLength = parsePackFooter(body.subarray(body.length - PACK_FOOTER_BYTES));
  const entries = parsePackTrailer(keys, body.subarray(body.length - PACK_FOOTER_BYTES - trailerLength, body.length - PACK_FOOTER_BYTES));
  return entries.map((e) => {
    const plain = decompressBlob(decryptBlob(keys, 'chunk', body.subarray(e.offset, e.offset + e.length)));
    if (plain.length !== e.rawLength || chunkId(keys, plain) !== e.id) throw new Error(`blob ${e.id} does not verify`);
    return plain;
  });
}

describe('pack format', () => {
  test('write then read returns the same blobs in order; the id is the SHA-256 of the body and survives its key', () => {
    fc.assert(
      fc.property(blobs, (plains) => {
        const pack = writePack(plains);
        expect(sameBuffers(readPack(pack.body), plains)).toBe(true);
        expect(pack.entries.map((e) => e.id)).toEqual(plains.map((p) => chunkId(keys, p)));
        expect(pack.id).toBe(createHash('sha256').update(pack.body).digest('hex'));
        expect(packIdFromKey(packKey(pack.id))).toBe(pack.id);
      }),
      { numRuns: 150 },
    );
  });

  test('any single bit flip anywhere in a pack is detected when it is read', () => {
    const flipped = blobs.chain((plains) => {
      const pack = writePack(plains);
      return fc.tuple(fc.constant(pack), fc.nat(pack.body.length - 1), fc.nat(7));
    });
    fc.assert(
      fc.property(flipped, ([pack, offset, bit]) => {
        const body = Buffer.from(pack.body);
        body[offset]! ^= 1 << bit;
        expect(() => readPack(body)).toThrow();
      }),
      { numRuns: 200 },
    );
  });

  test('a repository reads back what it stored and flags a flipped bit in a blob as ChunkCorruptedError naming chunk and pack', async () => {
    await fc.assert(
      fc.asyncProperty(blobs, fc.nat(), fc.nat(7), async (plains, pick, bit) => {
        const { store, repo } = await newRepo(new MemoryObjectStore());
        const ids: string[] = [];
        for (const p of plains) ids.push((await repo.addChunk(p)).id);
        await repo.flush();
        const fresh = await Repository.open(store, testKey());
        expect(sameBuffers(await fresh.readChunks(ids), plains)).toBe(true);

        const victim = ids[pick % ids.length]!;
        const loc = fresh.lookup(victim)!;
        const stored = store.objects.get(packKey(loc.pack))!;
        stored.body = Buffer.from(stored.body);
        stored.body[loc.offset + (pick % loc.length)]! ^= 1 << bit;
        const err = await fresh.readChunk(victim).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ChunkCorruptedError);
        expect((err as Error).message).toContain(victim);
        expect((err as Error).message).toContain(packKey(loc.pack));
      }),
      { numRuns: 40 },
    );
  });
});
