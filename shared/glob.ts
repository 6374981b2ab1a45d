/** Shell-style glob for names: `*` matches any run of characters, `?` exactly one. */
export function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

export const matchesGlob = (glob: string, value: string): boolean => globToRegExp(glob).test(value);

export const matchesAnyGlob = (globs: readonly string[], value: string): boolean => globs.some((g) => matchesGlob(g, value));
