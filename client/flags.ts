import { InvalidArgumentError } from 'commander';

/** A commander parser for a whole-number flag of at least `min`: a bad value exits 2 naming the flag. */
export const wholeNumber =
  (min: number) =>
  (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`expected a whole number of at least ${min}`);
    return n;
  };
