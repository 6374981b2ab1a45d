/**
 * Repository keys wrapped by a real KMS: a Vault-compatible server (`vault server -dev`, built
 * from source by scripts/stack/build-vault.sh; OpenBao's `bao` takes the same flags) whose transit
 * engine holds the key-encryption key, and MinIO. Proves that:
 *  - a repository made with a KMS key writes data and reads it back byte for byte; its wrapped
 *    entry names the KMS key (address, mount, name) and holds the KMS's ciphertext, never a token;
 *  - `drctl key rotate` env → KMS and KMS → env rewrites only repo/config, and old points stay
 *    readable with the new key; --revoke-old cuts the old one off;
 *  - after the transit key itself is rotated, rotating to the same KMS key rewraps the entry under
 *    the newest version, and retiring the old versions (min_decryption_version) refuses a copy of
 *    the old config with a message that says so;
 *  - a token whose decrypt permission was removed, a deleted key and an unreachable KMS are
 *    refused with typed errors naming the key and the fix, and the token is never in a message.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path, { join } from 'node:path';
import { stringify } from 'yaml';
import { Repository, backupTree, restoreTree } from '../../activities/datapath';
import { CONFIG_KEY, parseRepositoryConfig, unlockDataKeyWith } from '../../activities/datapath/repository';
import { kekId } from '../../activities/datapath/crypto';
import { listAll, type ObjectStore } from '../../activities/store/object-store';
import { openRepository, resolveKek } from '../../activities/store/open-repository';
import { KmsKeyRefusedError, KmsUnavailableError } from '../../activities/store/kms-kek';
import { volumeSnapshotKey } from '../../shared/catalog';
import { planKeyRef, type Plan } from '../../shared/plan';
import { fixturePlan } from './point-fixture';
import type { KeyRef, StoreRef } from '../../shared/store-ref';
import { freshStore } from '../harness/store';
import { prng, rmrf, tempDir, SMALL_CHUNKER, SMALL_PACK } from '../unit/datapath/helpers';

const VAULT_BIN = process.env.VAULT_BIN;
const DRCTL = path.join(__dirname, '../../dist/client/drctl.js');
const TOKEN_ENV = 'TDR_KMS_TOKEN';
const KEY_ENV_A = 'TDR_KMS_TEST_KEY_A';
const KEY_ENV_C = 'TDR_KMS_TEST_KEY_C';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** One dev-mode KMS server for the file, with the transit engine mounted. */
class Kms {
  proc?: ChildProcess;
  log = '';
  address = '';
  readonly rootToken = `root-${randomBytes(12).toString('hex')}`;

  async start(): Promise<void> {
    const port = await freePort();
    this.address = `http://127.0.0.1:${port}`;
    // The dev server stores its root token in ~/.vault-token: give it a home of its own.
    const home = mkdtempSync(join(tmpdir(), 'tdr-kms-home-'));
    this.proc = spawn(VAULT_BIN!, ['server', '-dev', `-dev-root-token-id=${this.rootToken}`, `-dev-listen-address=127.0.0.1:${port}`], {
      env: { PATH: process.env.PATH, HOME: home },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout!.on('data', (d: Buffer) => (this.log += d.toString()));
    this.proc.stderr!.on('data', (d: Buffer) => (this.log += d.toString()));
    const deadline = Date.now() + 60_000;
    for (;;) {
      const ok = await fetch(`${this.address}/v1/sys/health`).then((r) => r.ok, () => false);
      if (ok) break;
      if (this.proc.exitCode !== null || Date.now() > deadline) throw new Error(`the KMS (${VAULT_BIN}) did not start:\n${this.log.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await this.api('POST', 'sys/mounts/transit', { type: 'transit' });
  }

  async stop(): Promise<void> {
    if (!this.proc || this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc!.once('exit', r));
    this.proc.kill('SIGTERM');
    await exited;
  }

  /** A KMS API call with the root token (or `token`); the parsed JSON answer. */
  async api(method: string, p: string, body?: unknown, token = this.rootToken): Promise<Record<string, any>> {
    const r = await fetch(`${this.address}/v1/${p}`, {
      method,
      headers: { 'X-Vault-Token': token, 'Content-Type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`KMS ${method} ${p}: HTTP ${r.status} ${text}`);
    return text ? JSON.parse(text) : {};
  }

  /** A transit key, a policy allowing encrypt/decrypt/rewrap with it, and a token holding only that policy. */
  async keyWithToken(name: string): Promise<string> {
    await this.api('POST', `transit/keys/${name}`, { type: 'aes256-gcm96' });
    await this.setPolicy(name, ['encrypt', 'decrypt', 'rewrap']);
    const t = await this.api('POST', 'auth/token/create', { policies: [`tdr-${name}`], no_default_policy: true, ttl: '1h' });
    return t.auth.client_token as string;
  }

  async setPolicy(name: string, ops: string[]): Promise<void> {
    const policy = ops.map((op) => `path "transit/${op}/${name}" { capabilities = ["update"] }`).join('\n');
    await this.api('PUT', `sys/policies/acl/tdr-${name}`, { policy });
  }

  keyUrl(name: string): string {
    return `${this.address}/v1/transit/keys/${name}`;
  }

  ref(name: string): KeyRef {
    return { kms: { address: this.address, mount: 'transit', keyName: name, tokenFrom: { env: TOKEN_ENV } } };
  }
}

const kms = new Kms();
const dirs: string[] = [];

async function contents(store: ObjectStore): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const o of await listAll(store, '')) out.set(o.key, `${o.size}:${sha((await store.get(o.key))!)}`);
  return out;
}

/** Every object but repo/config keeps its bytes; repo/config changed. */
function onlyConfigChanged(before: Map<string, string>, after: Map<string, string>): void {
  expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
  for (const [k, v] of before) if (k !== CONFIG_KEY) expect(`${k} ${after.get(k)}`).toBe(`${k} ${v}`);
  expect(after.get(CONFIG_KEY)).not.toBe(before.get(CONFIG_KEY));
}

/** Backs up 150 kB seeded by `seed` as point `id`'s volume shop/data. */
async function writePoint(repo: Repository, planName: string, id: string, seed: number): Promise<void> {
  const dir = await tempDir('tdr-kms-src-');
  try {
    await writeFile(join(dir, 'data.bin'), prng(seed, 150_000));
    await backupTree(repo, { root: dir, manifestKey: volumeSnapshotKey(planName, id, 'shop', 'data'), sessionId: `s-${id}` });
  } finally {
    await rmrf(dir);
  }
}

async function readsBack(repo: Repository, planName: string, id: string, seed: number): Promise<void> {
  const dst = await tempDir('tdr-kms-dst-');
  dirs.push(dst);
  await restoreTree(repo, { manifestKey: volumeSnapshotKey(planName, id, 'shop', 'data'), target: join(dst, 'r') });
  expect(sha(await readFile(join(dst, 'r', 'data.bin')))).toBe(sha(prng(seed, 150_000)));
}

const plan = (name: string, ref: StoreRef, keyFrom: Record<string, unknown>): Plan => fixturePlan(name, ref, { keyFrom });

function planFile(p: Plan): string {
  const dir = mkdtempSync(join(tmpdir(), 'tdr-kms-plan-'));
  dirs.push(dir);
  const file = join(dir, 'plan.yaml');
  writeFileSync(file, stringify(p));
  return file;
}

const kmsKeyFrom = (name: string) => ({ kms: { address: kms.address, keyName: name, tokenFrom: { env: TOKEN_ENV } } });

/** drctl as an operator runs it; stdout, stderr and the exit status. */
function drctl(args: string[]): { status: number; stdout: string; stderr: string } {
  try {
    return { status: 0, stdout: execFileSync(process.execPath, [DRCTL, ...args], { env: process.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }), stderr: '' };
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    return { status: e.status, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The error `p` rejects with (the test fails when it resolves). */
async function failure(p: Promise<unknown>): Promise<Error> {
  const r = await p.then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  if (!r) throw new Error('expected a failure, got success');
  return r;
}

async function newStore(): Promise<{ ref: StoreRef; store: ObjectStore }> {
  return freshStore('dr');
}

describe('repository keys wrapped by a KMS (transit engine of a real Vault-compatible server)', () => {
  beforeAll(async () => {
    if (!VAULT_BIN) {
      throw new Error('VAULT_BIN is not set: this test needs the KMS server binary; build it with `bash scripts/stack/build-vault.sh` (scripts/test.sh runs it and exports VAULT_BIN)');
    }
    await kms.start();
  });

  afterAll(async () => {
    await kms.stop();
    for (const d of dirs) await rmrf(d);
  });

  test('a repository made with a KMS key writes and reads back byte for byte; its entry names the key, never the token', async () => {
    process.env[TOKEN_ENV] = await kms.keyWithToken('repo-a');
    const { ref, store } = await newStore();
    const p = plan('kms-basic', ref, kmsKeyFrom('repo-a'));
    const keyRef = planKeyRef(p);
    expect(keyRef).toEqual({ kms: { address: kms.address, mount: 'transit', keyName: 'repo-a', tokenFrom: { env: TOKEN_ENV } }, context: 'source' });
    // What travels (Temporal payloads) is the reference only.
    expect(JSON.stringify(keyRef)).not.toContain(process.env[TOKEN_ENV]);

    const repo = await Repository.init(store, await resolveKek(keyRef), { chunker: SMALL_CHUNKER, packSize: SMALL_PACK, keyRef: 'kms' });
    await writePoint(repo, 'kms-basic', 'p1', 11);
    const raw = (await store.get(CONFIG_KEY))!;
    const config = parseRepositoryConfig(raw, ref.bucket);
    expect(config.version).toBe(2);
    expect(config.wrappedKeys).toEqual([{ kek: `transit:${kms.keyUrl('repo-a')}`, wrapped: expect.stringMatching(/^vault:v1:/) }]);
    expect(raw.toString()).not.toContain(process.env[TOKEN_ENV]);
    expect(raw.toString()).not.toContain(kms.rootToken);

    // A fresh open through the plan's reference (a new KMS client: a real decrypt).
    await readsBack(await openRepository(ref, keyRef, { create: false }), 'kms-basic', 'p1', 11);
    // Every object but repo/config is sealed under the repository key: none mentions the KMS.
    for (const o of await listAll(store, '')) if (o.key !== CONFIG_KEY) expect((await store.get(o.key))!.toString('latin1')).not.toContain('vault:v1');
  });

  test('drctl key rotate env → KMS → env: only repo/config changes, old points stay readable, --revoke-old cuts the old key off', async () => {
    process.env[TOKEN_ENV] = await kms.keyWithToken('repo-b');
    const { ref, store } = await newStore();
    const A = randomBytes(32);
    process.env[KEY_ENV_A] = A.toString('base64');
    await writePoint(await Repository.init(store, A, { chunker: SMALL_CHUNKER, packSize: SMALL_PACK }), 'kms-rot', 'p1', 21);

    // env → KMS, revoking A.
    let before = await contents(store);
    const toKms = drctl(['key', 'rotate', '--plan', planFile(plan('kms-rot', ref, { env: KEY_ENV_A })), '--to-kms', kms.keyUrl('repo-b'), '--to-kms-token-env', TOKEN_ENV, '--revoke-old', '-o', 'json']);
    expect(toKms.stderr).toBe('');
    expect(JSON.parse(toKms.stdout)).toMatchObject({ fromKek: kekId(A), toKek: `transit:${kms.keyUrl('repo-b')}`, revoked: true, rewrapped: false, kekIds: [`transit:${kms.keyUrl('repo-b')}`] });
    expect(toKms.stdout).not.toContain(process.env[TOKEN_ENV]);
    onlyConfigChanged(before, await contents(store));
    const kmsPlan = plan('kms-rot', ref, kmsKeyFrom('repo-b'));
    const viaKms = await openRepository(ref, planKeyRef(kmsPlan), { create: false });
    await readsBack(viaKms, 'kms-rot', 'p1', 21);
    await expect(Repository.open(store, A, { keyRef: `environment variable ${KEY_ENV_A}` })).rejects.toThrow(/revoked by `drctl key rotate --revoke-old`/);
    await writePoint(viaKms, 'kms-rot', 'p2', 22);

    // KMS → env (key C), revoking the KMS key.
    const C = randomBytes(32);
    process.env[KEY_ENV_C] = C.toString('base64');
    before = await contents(store);
    const toEnv = drctl(['key', 'rotate', '--plan', planFile(kmsPlan), '--to-env', KEY_ENV_C, '--revoke-old']);
    expect(toEnv.status).toBe(0);
    expect(toEnv.stdout).toContain(`key ${kekId(C)} (environment variable ${KEY_ENV_C})`);
    expect(toEnv.stdout).toContain(`key transit:${kms.keyUrl('repo-b')} (KMS key ${kms.keyUrl('repo-b')}) revoked`);
    onlyConfigChanged(before, await contents(store));
    const viaC = await Repository.open(store, C);
    await readsBack(viaC, 'kms-rot', 'p1', 21);
    await readsBack(viaC, 'kms-rot', 'p2', 22);
    expect(parseRepositoryConfig((await store.get(CONFIG_KEY))!, 'x').wrappedKeys!.map((w) => w.kek)).toEqual([kekId(C)]);
    await expect(openRepository(ref, planKeyRef(kmsPlan), { create: false })).rejects.toThrow(
      new RegExp(`check KMS key ${kms.keyUrl('repo-b').replace(/[.]/g, '\\.')} \\(it is not one of the repository's key-encryption keys`),
    );
  });

  test('after the transit key is rotated, rotating to the same KMS key rewraps under the newest version; retired versions are refused', async () => {
    process.env[TOKEN_ENV] = await kms.keyWithToken('repo-c');
    const { ref, store } = await newStore();
    const p = plan('kms-ver', ref, kmsKeyFrom('repo-c'));
    const repo = await Repository.init(store, await resolveKek(planKeyRef(p)), { chunker: SMALL_CHUNKER, packSize: SMALL_PACK });
    await writePoint(repo, 'kms-ver', 'p1', 31);
    const oldRaw = (await store.get(CONFIG_KEY))!;
    expect(parseRepositoryConfig(oldRaw, 'x').wrappedKeys![0]!.wrapped).toMatch(/^vault:v1:/);

    await kms.api('POST', 'transit/keys/repo-c/rotate', {});
    const before = await contents(store);
    const r = drctl(['key', 'rotate', '--plan', planFile(p), '--to-kms', kms.keyUrl('repo-c'), '--to-kms-token-env', TOKEN_ENV, '-o', 'json']);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({ rewrapped: true, revoked: false, kekIds: [`transit:${kms.keyUrl('repo-c')}`] });
    onlyConfigChanged(before, await contents(store));
    expect(parseRepositoryConfig((await store.get(CONFIG_KEY))!, 'x').wrappedKeys![0]!.wrapped).toMatch(/^vault:v2:/);

    // Retire version 1: the rewrapped repository still opens; a copy of the old config does not.
    await kms.api('POST', 'transit/keys/repo-c/config', { min_decryption_version: 2 });
    await readsBack(await openRepository(ref, planKeyRef(p), { create: false }), 'kms-ver', 'p1', 31);
    const err = await failure(unlockDataKeyWith(parseRepositoryConfig(oldRaw, 'x'), await resolveKek(planKeyRef(p)), { location: 'a stale copy' }));
    expect(err).toBeInstanceOf(KmsKeyRefusedError);
    expect((err as Error).message).toMatch(new RegExp(`^KMS key ${kms.keyUrl('repo-c').replace(/[.]/g, '\\.')}: the key version that wrapped this repository's key is retired .*min_decryption_version`));
  });

  test('a token without decrypt, a deleted key and an unreachable KMS are refused with typed errors that name the key, never the token', async () => {
    const token = await kms.keyWithToken('repo-d');
    process.env[TOKEN_ENV] = token;
    const { ref, store } = await newStore();
    const p = plan('kms-revoked', ref, kmsKeyFrom('repo-d'));
    await writePoint(await Repository.init(store, await resolveKek(planKeyRef(p)), { chunker: SMALL_CHUNKER, packSize: SMALL_PACK }), 'kms-revoked', 'p1', 41);

    // The token's policy loses decrypt: the repository can no longer be read, new points neither.
    await kms.setPolicy('repo-d', ['encrypt']);
    const denied = await failure(openRepository(ref, planKeyRef(p), { create: false }));
    expect(denied).toBeInstanceOf(KmsKeyRefusedError);
    expect((denied as KmsKeyRefusedError).retryable).toBe(false);
    expect(denied.message).toContain(`KMS key ${kms.keyUrl('repo-d')}: permission denied to decrypt with the token from environment variable ${TOKEN_ENV}`);
    expect(denied.message).toContain('"transit/decrypt/repo-d"');
    expect(denied.message).not.toContain(token);
    // The same through drctl, as an operator sees it.
    const cli = drctl(['key', 'rotate', '--plan', planFile(p), '--to-env', KEY_ENV_A]);
    expect(cli.status).not.toBe(0);
    expect(cli.stderr).toContain('permission denied to decrypt');
    expect(cli.stderr + cli.stdout).not.toContain(token);
    await kms.setPolicy('repo-d', ['encrypt', 'decrypt', 'rewrap']);
    await readsBack(await openRepository(ref, planKeyRef(p), { create: false }), 'kms-revoked', 'p1', 41);

    // The key is deleted: nothing opens the repository with it any more.
    await kms.api('POST', 'transit/keys/repo-d/config', { deletion_allowed: true });
    await kms.api('DELETE', 'transit/keys/repo-d');
    const gone = await failure(openRepository(ref, planKeyRef(p), { create: false }));
    expect(gone).toBeInstanceOf(KmsKeyRefusedError);
    expect(gone.message).toMatch(new RegExp(`^KMS key ${kms.keyUrl('repo-d').replace(/[.]/g, '\\.')}: the KMS has no such key .*deleted`));
    expect(gone.message).not.toContain(token);

    // A KMS that cannot be reached: retryable.
    const down = { kms: { address: `http://127.0.0.1:${await freePort()}`, mount: 'transit', keyName: 'repo-d', tokenFrom: { env: TOKEN_ENV } } };
    const unreachable = await failure(openRepository(ref, down, { create: false }));
    // The entry names another address, so the id does not match before any call: ask the KMS directly.
    expect(unreachable.message).toMatch(/not one of the repository's key-encryption keys/);
    const kek = await resolveKek(down);
    const offline = await failure((kek as { unwrap(w: string): Promise<Buffer> }).unwrap('vault:v1:AAAA'));
    expect(offline).toBeInstanceOf(KmsUnavailableError);
    expect((offline as KmsUnavailableError).retryable).toBe(true);
    expect(offline.message).toMatch(/the KMS cannot be reached to decrypt \(ECONNREFUSED\)/);
    expect(offline.message).not.toContain(token);

    // A missing token is named, with the fix.
    delete process.env[TOKEN_ENV];
    await expect(resolveKek(planKeyRef(p))).rejects.toThrow(`the token for KMS key ${kms.keyUrl('repo-d')} is not in environment variable ${TOKEN_ENV}`);
  });
});
