import fc from 'fast-check';
import { Chunker, chunkLengths, type ChunkerParams } from '../../../activities/datapath';
import { prng } from '../datapath/helpers';

const SMALL: ChunkerParams = { min: 256, avg: 1024, max: 4096 };

const params: fc.Arbitrary<ChunkerParams> = fc
  .integer({ min: 8, max: 12 })
  .chain((bits) => fc.record({ min: fc.integer({ min: 1, max: 2 ** bits - 1 }), avg: fc.constant(2 ** bits), max: fc.integer({ min: 2 ** bits + 1, max: 2 ** (bits + 3) }) }));

/** Random, constant and short-period data: content-defined cuts behave differently on each. */
const data = (maxLength: number): fc.Arbitrary<Buffer> =>
  fc.oneof(
    fc.tuple(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.nat(maxLength)).map(([seed, n]) => prng(seed, n)),
    fc.tuple(fc.nat(255), fc.nat(maxLength)).map(([byte, n]) => Buffer.alloc(n, byte)),
    fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 16 }), fc.nat(maxLength)).map(([unit, n]) => Buffer.from(Array.from({ length: n }, (_, i) => unit[i % unit.length]!))),
  );

const cutPoints = (lengths: number[]) => {
  let at = 0;
  return lengths.map((l) => (at += l));
};

function chunksOf(input: Buffer, p: ChunkerParams, pieces: number[] = [input.length]): Buffer[] {
  const chunker = new Chunker(p);
  const out: Buffer[] = [];
  let at = 0;
  for (const size of pieces) {
    out.push(...chunker.push(input.subarray(at, at + size)));
    at += size;
  }
  out.push(...chunker.push(input.subarray(at)));
  const last = chunker.finish();
  if (last) out.push(last);
  return out;
}

describe('FastCDC chunker', () => {
  test('chunks cover the input exactly, in order', () => {
    fc.assert(
      fc.property(data(40_000), params, (input, p) => expect(Buffer.concat(chunksOf(input, p)).equals(input)).toBe(true)),
      { numRuns: 150 },
    );
  });

  test('every chunk is between min and max bytes, except the last, which is 1 to max', () => {
    fc.assert(
      fc.property(data(40_000), params, (input, p) => {
        const lengths = chunkLengths(input, p);
        lengths.forEach((len, i) => {
          expect(len).toBeLessThanOrEqual(p.max);
          expect(len).toBeGreaterThanOrEqual(i === lengths.length - 1 ? 1 : p.min);
        });
      }),
      { numRuns: 150 },
    );
  });

  test('boundaries depend on the content only: the same for any way the input is fed in', () => {
    const split = data(30_000).chain((input) => fc.tuple(fc.constant(input), fc.array(fc.nat(input.length), { maxLength: 8 })));
    fc.assert(
      fc.property(split, ([input, pieces]) => expect(chunksOf(input, SMALL, pieces).map((c) => c.length)).toEqual(chunkLengths(input, SMALL))),
      { numRuns: 150 },
    );
  });

  test('an insertion moves only the boundaries near it: those before are kept, and those after realign within a few chunks', () => {
    const edit = fc.record({
      seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      at: fc.nat(40_000),
      inserted: fc.uint8Array({ minLength: 1, maxLength: 200 }),
    });
    fc.assert(
      fc.property(edit, ({ seed, at, inserted }) => {
        const input = prng(seed, 64 * 1024);
        const edited = Buffer.concat([input.subarray(0, at), inserted, input.subarray(at)]);
        const before = cutPoints(chunkLengths(input, SMALL));
        const after = cutPoints(chunkLengths(edited, SMALL));
        expect(after.filter((c) => c <= at)).toEqual(before.filter((c) => c <= at));
        const shifted = new Set(after.map((c) => c - inserted.length));
        const following = before.filter((c) => c > at);
        const realigned = following.findIndex((c) => shifted.has(c));
        expect(realigned).toBeGreaterThanOrEqual(0);
        expect(realigned).toBeLessThan(16);
        for (const c of following.slice(realigned)) expect(shifted.has(c)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });
});
