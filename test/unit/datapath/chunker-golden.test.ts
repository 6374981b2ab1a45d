/**
 * Golden values: chunk boundaries and chunk ids of existing repositories. If these change, new
 * backups stop deduplicating against old ones, so a change to the chunker, the Gear table, the key
 * derivation or chunkId must keep them byte-identical. Recorded with the chunker as of 2026-12.
 */
import { createHash } from 'node:crypto';
import { Chunker, DEFAULT_CHUNKER_PARAMS, chunkLengths, gearTable, type ChunkerParams } from '../../../activities/datapath';
import { chunkId, deriveKeys } from '../../../activities/datapath/crypto';
import { SMALL_CHUNKER, prng } from './helpers';

const keys = deriveKeys(createHash('sha256').update('golden').digest());
const keyedGear = gearTable(keys.gearSeed);

/** Chunks of `data` fed in pieces of the given sizes (cycled). */
function cut(data: Buffer, pieces: number[], params: ChunkerParams, gear?: Int32Array): Buffer[] {
  const c = new Chunker(params, gear);
  const out: Buffer[] = [];
  for (let o = 0, i = 0; o < data.length; i++) {
    const n = pieces[i % pieces.length]!;
    out.push(...c.push(data.subarray(o, o + n)));
    o += n;
  }
  const last = c.finish();
  if (last) out.push(last);
  return out;
}

const SMALL_DEFAULT_GEAR = [
  72616, 58026, 84126, 78941, 73663, 79590, 37964, 85080, 81780, 78588, 67332, 71890, 48865, 76535, 67736, 19822, 79073, 31327, 65932, 93309, 33059,
  66515, 68835, 80074, 84454, 98447, 76406, 108752, 101185, 27230,
];
const SMALL_KEYED_GEAR = [
  68001, 73956, 127649, 72739, 72026, 71613, 69871, 66159, 30233, 52422, 78350, 29799, 87654, 111790, 100300, 74558, 71879, 77699, 77221, 92642,
  67959, 70841, 66772, 43518, 67039, 21440, 70067, 69581, 68679, 27932, 16763,
];
const DEFAULT_PARAMS_KEYED_GEAR = [
  379032, 692114, 578141, 736680, 657814, 855753, 831443, 632168, 192579, 588028, 545252, 582406, 360605, 567765, 544688, 690751, 539988, 546638,
  404385, 841987, 657528, 157167,
];

describe('chunker and chunk id golden values (existing repositories must keep deduplicating)', () => {
  test('the keyed Gear table is unchanged', () => {
    expect(createHash('sha256').update(Buffer.from(keyedGear.buffer)).digest('hex')).toBe('4ebbbd7ff41ae944ddced8ab2feaf8b803b64472a3694ce6a3c403a91fb06e20');
  });

  test('boundaries are unchanged, however the data is fed', () => {
    const small = prng(2026, 2 * 1024 * 1024);
    const big = prng(7, 12 * 1024 * 1024);
    expect(chunkLengths(small, SMALL_CHUNKER)).toEqual(SMALL_DEFAULT_GEAR);
    expect(chunkLengths(small, SMALL_CHUNKER, keyedGear)).toEqual(SMALL_KEYED_GEAR);
    expect(chunkLengths(big, DEFAULT_CHUNKER_PARAMS, keyedGear)).toEqual(DEFAULT_PARAMS_KEYED_GEAR);
    for (const pieces of [[1 << 20], [4095, 17, 65536], [333_333, 1, 100_000]]) {
      expect(cut(small, pieces, SMALL_CHUNKER).map((b) => b.length)).toEqual(SMALL_DEFAULT_GEAR);
      expect(cut(small, pieces, SMALL_CHUNKER, keyedGear).map((b) => b.length)).toEqual(SMALL_KEYED_GEAR);
      expect(cut(big, pieces, DEFAULT_CHUNKER_PARAMS, keyedGear).map((b) => b.length)).toEqual(DEFAULT_PARAMS_KEYED_GEAR);
    }
  });

  test('chunk ids are unchanged', () => {
    const parts = cut(prng(2026, 2 * 1024 * 1024), [1 << 20], SMALL_CHUNKER, keyedGear);
    expect(parts.slice(0, 3).map((p) => chunkId(keys, p))).toEqual([
      '6a996cc54cce088bac89e9869cb7f51a4157a987cbfde897e7a7cccff39233c5',
      'f7b2561fea4531f0823e6e146557517dae5d5febd3fe620afd98239c314c12bd',
      'e880455b097f45a0e57c64069c9eac300a5db0c2b1096910fad291175786fe2b',
    ]);
  });
});
