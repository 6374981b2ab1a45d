/**
 * Local copies of a repository's index objects, exactly as stored (sealed: encrypted and
 * authenticated), so that opening a repository fetches only the index objects written since the
 * last open on this host. Index objects are immutable (random keys, never rewritten), so a copy
 * is valid for as long as its key is listed; the caller authenticates every copy it reads and
 * fetches again one that fails. Best effort: a cache that cannot be read or written costs only
 * the GETs it would have saved.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const KEY_PREFIX = 'repo/index/';
const SAFE_NAME = /^[0-9a-f]{8,64}$/;

export class IndexCache {
  private ready: Promise<boolean> | undefined;

  private constructor(readonly dir: string) {}

  /**
   * The cache of one repository (its location and key check name it, so two repositories never
   * share copies), under `baseDir`, else TDR_INDEX_CACHE_DIR, else <tmpdir>/tdr-index-cache;
   * undefined when the setting is "off".
   */
  static forRepository(baseDir: string | undefined, location: string, keyCheck: string, env: NodeJS.ProcessEnv = process.env): IndexCache | undefined {
    const base = baseDir ?? env.TDR_INDEX_CACHE_DIR ?? join(tmpdir(), 'tdr-index-cache');
    if (base === 'off' || base === '') return undefined;
    const id = createHash('sha256').update(`${location}\0${keyCheck}`).digest('hex').slice(0, 32);
    return new IndexCache(join(base, id));
  }

  async get(key: string): Promise<Buffer | undefined> {
    const name = nameOf(key);
    if (!name || !(await this.ensureDir())) return undefined;
    return readFile(join(this.dir, name)).catch(() => undefined);
  }

  async put(key: string, body: Buffer): Promise<void> {
    const name = nameOf(key);
    if (!name || !(await this.ensureDir())) return;
    const tmp = join(this.dir, `.${name}.${process.pid}.${randomBytes(4).toString('hex')}`);
    try {
      await writeFile(tmp, body, { mode: 0o600 });
      await rename(tmp, join(this.dir, name));
    } catch {
      await unlink(tmp).catch(() => undefined);
    }
  }

  /** Drops copies of index objects the store no longer lists (GC superseded them). */
  async keepOnly(listedKeys: ReadonlySet<string>): Promise<void> {
    if (!(await this.ensureDir())) return;
    const names = await readdir(this.dir).catch(() => [] as string[]);
    await Promise.all(
      names.filter((n) => SAFE_NAME.test(n) && !listedKeys.has(KEY_PREFIX + n)).map((n) => unlink(join(this.dir, n)).catch(() => undefined)),
    );
  }

  private ensureDir(): Promise<boolean> {
    this.ready ??= mkdir(this.dir, { recursive: true, mode: 0o700 }).then(
      () => true,
      () => false,
    );
    return this.ready;
  }
}

function nameOf(key: string): string | undefined {
  if (!key.startsWith(KEY_PREFIX)) return undefined;
  const name = key.slice(KEY_PREFIX.length);
  return SAFE_NAME.test(name) ? name : undefined;
}
