import { createHash } from 'node:crypto';
import { Chunker, chunkLengths, gearTable, validateChunkerParams } from '../../../activities/datapath';
import { SMALL_CHUNKER, prng } from './helpers';

const P = SMALL_CHUNKER;

function cut(data: Buffer, pieces: number[], params = P, gear?: Int32Array): Buffer[] {
  const c = new Chunker(params, gear);
  const out: Buffer[] = [];
  let o = 0;
  let i = 0;
  while (o < data.length) {
    const n = pieces[i++ % pieces.length]!;
    out.push(...c.push(data.subarray(o, o + n)));
    o += n;
  }
  const last = c.finish();
  if (last) out.push(last);
  return out;
}

const h = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('FastCDC chunker', () => {
  test('concatenation equals input and boundaries do not depend on how data is fed', () => {
    for (let seed = 1; seed <= 6; seed++) {
      const data = prng(seed, 3 * 1024 * 1024 + seed * 777);
      const whole = cut(data, [data.length]);
      expect(Buffer.concat(whole).equals(data)).toBe(true);
      if (seed === 1) {
        const small = data.subarray(0, 700_000);
        expect(cut(small, [1]).map((p) => p.length)).toEqual(cut(small, [small.length]).map((p) => p.length));
      }
      for (const f of [[4095, 17, 65536], [1 << 20], [333_333, 1]]) {
        const parts = cut(data, f);
        expect(parts.map((p) => p.length)).toEqual(whole.map((p) => p.length));
      }
    }
  });

  test('chunk sizes respect min and max; average near the target', () => {
    const data = prng(42, 16 * 1024 * 1024);
    const lens = chunkLengths(data, P);
    for (const l of lens.slice(0, -1)) {
      expect(l).toBeGreaterThanOrEqual(P.min);
      expect(l).toBeLessThanOrEqual(P.max);
    }
    const avg = data.length / lens.length;
    expect(avg).toBeGreaterThan(P.avg * 0.6);
    expect(avg).toBeLessThan(P.avg * 1.8);
  });

  test('zero-filled data is cut at max size', () => {
    const lens = chunkLengths(Buffer.alloc(P.max * 3 + 5), P);
    expect(lens).toEqual([P.max, P.max, P.max, 5]);
  });

  test('an insertion only re-cuts the chunks around it', () => {
    for (let seed = 1; seed <= 5; seed++) {
      const data = prng(seed * 101, 8 * 1024 * 1024);
      const at = (seed * 1_234_567) % data.length;
      const edited = Buffer.concat([data.subarray(0, at), prng(seed + 9, 100), data.subarray(at)]);
      const a = new Set(cut(data, [1 << 20]).map(h));
      const bList = cut(edited, [1 << 20]).map(h);
      const changed = bList.filter((x) => !a.has(x)).length;
      expect(changed).toBeLessThanOrEqual(3);
      expect(bList.length).toBeGreaterThan(50);
    }
  });

  test('a keyed gear table gives different boundaries', () => {
    const data = prng(7, 4 * 1024 * 1024);
    const a = chunkLengths(data, P);
    const b = chunkLengths(data, P, gearTable(Buffer.from('other seed')));
    expect(a).not.toEqual(b);
  });

  test('invalid parameters name the problem', () => {
    expect(() => validateChunkerParams({ min: 10, avg: 1000, max: 5000 })).toThrow(/power of two/);
    expect(() => validateChunkerParams({ min: 4096, avg: 2048, max: 8192 })).toThrow(/min < avg < max/);
  });
});
