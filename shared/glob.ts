/**
 * Shell-style glob for names: `*` matches any run of characters, `?` exactly one. Matched without
 * a regular expression, in O(glob × value) time: a regex built from a glob such as `*a*a*a*a*a*b`
 * backtracks exponentially, and globs come from plans.
 */
export function matchesGlob(glob: string, value: string): boolean {
  let g = 0;
  let v = 0;
  let star = -1;
  let resume = 0;
  while (v < value.length) {
    if (g < glob.length && (glob[g] === '?' || (glob[g] !== '*' && glob[g] === value[v]))) {
      g++;
      v++;
    } else if (g < glob.length && glob[g] === '*') {
      star = g++;
      resume = v;
    } else if (star >= 0) {
      g = star + 1;
      v = ++resume;
    } else {
      return false;
    }
  }
  while (g < glob.length && glob[g] === '*') g++;
  return g === glob.length;
}

export const matchesAnyGlob = (globs: readonly string[], value: string): boolean => globs.some((g) => matchesGlob(g, value));
