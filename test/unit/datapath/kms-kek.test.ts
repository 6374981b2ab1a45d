/**
 * The KMS key-encryption key against a stand-in transit API (a local HTTP server answering as
 * OpenBao/Vault do): what is sent, how refusals are classified, that the token never reaches a
 * message, and rotations to and from a KMS key in repo/config. The real server is exercised by
 * test/integration/kms-keys.test.ts.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { KmsKeyRefusedError, KmsUnavailableError, kmsKekId, transitKek } from '../../../activities/store/kms-kek';
import { MemoryObjectStore } from '../../../activities/store/memory-object-store';
import { Repository } from '../../../activities/datapath';
import { CONFIG_KEY, parseRepositoryConfig, rotateConfigWith, unlockDataKeyWith } from '../../../activities/datapath/repository';
import { kekId } from '../../../activities/datapath/crypto';
import { rotateRepositoryKey } from '../../../activities/store/rotate-key';
import { newKeyRef, parseKmsKeyUrl } from '../../../client/commands/key';
import { describeKeyRef, kmsKeyUrl, type KmsKeyRef } from '../../../shared/store-ref';
import { NON_RETRYABLE_ERROR_TYPES } from '../../../shared/errors';

const TOKEN = 's.super-secret-token-value';

/** A transit stand-in: encrypt/decrypt/rewrap with a per-version XOR "key"; `mode` forces refusals. */
class FakeTransit {
  server!: Server;
  address = '';
  version = 1;
  minDecrypt = 1;
  mode: 'ok' | 'forbidden' | 'missing' | 'sealed' = 'ok';
  calls: { path: string; token: string | undefined; body: Record<string, string> }[] = [];

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req).then(([status, body]) => res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body))));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.address = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private async handle(req: IncomingMessage): Promise<[number, unknown]> {
    let raw = '';
    for await (const c of req) raw += c;
    const body = JSON.parse(raw || '{}') as Record<string, string>;
    this.calls.push({ path: req.url!, token: req.headers['x-vault-token'] as string | undefined, body });
    if (this.mode === 'forbidden') return [403, { errors: ['1 error occurred:\n\t* permission denied\n\n'] }];
    if (this.mode === 'missing') return [400, { errors: ['encryption key not found'] }];
    if (this.mode === 'sealed') return [503, { errors: [`Vault is sealed (token ${TOKEN} echoed by a careless proxy)`] }];
    const xor = (b: Buffer, v: number) => Buffer.from(b.map((x) => x ^ v));
    const m = /^\/v1\/transit\/(encrypt|decrypt|rewrap)\/repo$/.exec(req.url!);
    if (!m) return [404, { errors: ['no handler for route'] }];
    const open = (ct: string): Buffer | string => {
      const [, v, data] = /^vault:v(\d+):(.*)$/.exec(ct) ?? [];
      if (Number(v) < this.minDecrypt) return 'ciphertext or signature version is disallowed by policy (too old)';
      return xor(Buffer.from(data!, 'base64'), Number(v));
    };
    if (m[1] === 'encrypt') return [200, { data: { ciphertext: `vault:v${this.version}:${xor(Buffer.from(body.plaintext!, 'base64'), this.version).toString('base64')}` } }];
    const plain = open(body.ciphertext!);
    if (typeof plain === 'string') return [400, { errors: [plain] }];
    if (m[1] === 'decrypt') return [200, { data: { plaintext: plain.toString('base64') } }];
    return [200, { data: { ciphertext: `vault:v${this.version}:${xor(plain, this.version).toString('base64')}` } }];
  }
}

/** The error `p` rejects with (fails when it resolves). */
async function failure(p: Promise<unknown>): Promise<Error> {
  const r = await p.then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  if (!r) throw new Error('expected a failure, got success');
  return r;
}

const fake = new FakeTransit();
const ref = (): KmsKeyRef => ({ address: fake.address, mount: 'transit', keyName: 'repo', tokenFrom: { env: 'T' } });
const kek = () => transitKek(ref(), TOKEN, 'environment variable T');

beforeAll(() => fake.start());
afterAll(() => new Promise((r) => fake.server.close(r)));
beforeEach(() => {
  fake.mode = 'ok';
  fake.version = 1;
  fake.minDecrypt = 1;
  fake.calls = [];
});

describe('transit key-encryption key', () => {
  test('wraps through encrypt and unwraps through decrypt, sending the token only as X-Vault-Token', async () => {
    const dek = randomBytes(32);
    const k = kek();
    expect(k.id).toBe(`transit:${fake.address}/v1/transit/keys/repo`);
    const wrapped = await k.wrap(dek);
    expect(wrapped).toMatch(/^vault:v1:/);
    expect(await k.unwrap(wrapped)).toEqual(dek);
    expect(fake.calls.map((c) => c.path)).toEqual(['/v1/transit/encrypt/repo', '/v1/transit/decrypt/repo']);
    expect(fake.calls.every((c) => c.token === TOKEN)).toBe(true);
    expect(fake.calls[0]!.body).toEqual({ plaintext: dek.toString('base64') });
  });

  test('a repository opens with a KMS key, and refusals are typed, name the key and the fix, and never the token', async () => {
    const store = new MemoryObjectStore();
    await Repository.init(store, kek());
    const config = parseRepositoryConfig((await store.get(CONFIG_KEY))!, 'm');
    expect(config.wrappedKeys).toEqual([{ kek: kmsKekId(ref()), wrapped: expect.stringMatching(/^vault:v1:/) }]);
    expect((await store.get(CONFIG_KEY))!.toString()).not.toContain(TOKEN);
    await expect(Repository.open(store, kek())).resolves.toBeDefined();

    fake.mode = 'forbidden';
    const denied = await failure(Repository.open(store, kek()));
    expect(denied).toBeInstanceOf(KmsKeyRefusedError);
    expect(denied.message).toMatch(/permission denied to decrypt with the token from environment variable T .*capabilities \["update"\] on "transit\/encrypt\/repo" and "transit\/decrypt\/repo"/);
    expect(NON_RETRYABLE_ERROR_TYPES).toContain(denied.name);

    fake.mode = 'missing';
    const missing = await failure(Repository.open(store, kek()));
    expect(missing).toBeInstanceOf(KmsKeyRefusedError);
    expect(missing.message).toContain(`KMS key ${fake.address}/v1/transit/keys/repo: the KMS has no such key (encryption key not found): it was deleted`);

    fake.mode = 'sealed';
    const sealed = await failure(Repository.open(store, kek()));
    expect(sealed).toBeInstanceOf(KmsUnavailableError);
    expect((sealed as KmsUnavailableError).retryable).toBe(true);
    expect(NON_RETRYABLE_ERROR_TYPES).not.toContain(sealed.name);
    expect(sealed.message).toContain('HTTP 503');
    expect(sealed.message).not.toContain(TOKEN);
    expect(sealed.message).toContain('[token]');

    const down = await failure(transitKek({ ...ref(), address: 'http://127.0.0.1:1' }, TOKEN, 'environment variable T').wrap(randomBytes(32)));
    expect(down).toBeInstanceOf(KmsUnavailableError);
    expect(down.message).toMatch(/cannot be reached to encrypt \(ECONNREFUSED\)/);
  });

  test('rotation env → KMS → env rewrites only the wrapped entries; the same KMS key rewraps under its newest version', async () => {
    const store = new MemoryObjectStore();
    const A = randomBytes(32);
    const C = randomBytes(32);
    const repo = await Repository.init(store, A);
    const check = repo.config.keyCheck;

    const toKms = await rotateRepositoryKey(store, A, kek(), { revokeOld: true });
    expect(toKms).toMatchObject({ fromKek: kekId(A), toKek: kmsKekId(ref()), revoked: true, rewrapped: false, kekIds: [kmsKekId(ref())] });
    await expect(Repository.open(store, A)).rejects.toThrow(/revoked/);
    expect((await Repository.open(store, kek())).config.keyCheck).toBe(check);

    fake.version = 2; // the transit key was rotated
    const again = await rotateRepositoryKey(store, kek(), kek(), {});
    expect(again).toMatchObject({ rewrapped: true, kekIds: [kmsKekId(ref())] });
    expect(fake.calls.some((c) => c.path === '/v1/transit/rewrap/repo')).toBe(true);
    const v2 = parseRepositoryConfig((await store.get(CONFIG_KEY))!, 'm');
    expect(v2.wrappedKeys![0]!.wrapped).toMatch(/^vault:v2:/);
    fake.minDecrypt = 2;
    const retired = await failure(unlockDataKeyWith({ ...v2, wrappedKeys: [{ kek: kmsKekId(ref()), wrapped: (await kek().wrap(randomBytes(32))).replace('vault:v2:', 'vault:v1:') }] }, kek(), { location: 'm' }));
    expect(retired).toBeInstanceOf(KmsKeyRefusedError);
    expect(retired.message).toMatch(/key version that wrapped this repository's key is retired .*min_decryption_version/);

    const back = await rotateConfigWith(v2, kek(), C, { location: 'm', revokeCurrent: true });
    expect(back.wrappedKeys!.map((w) => w.kek)).toEqual([kekId(C)]);
    expect(back.keyCheck).toBe(check);
    await expect(rotateConfigWith(v2, kek(), kek(), { location: 'm', revokeCurrent: true })).rejects.toThrow(/the new key is the current key/);
  });

  test('a version-1 repository is not opened by a KMS key (its key is the repository key)', async () => {
    const v1 = { format: 'tdr-repository', version: 1, chunker: { min: 1, avg: 2, max: 4 }, keyCheck: 'x' } as never;
    await expect(unlockDataKeyWith(v1, kek(), { location: 'm', keyRef: 'KMS key k' })).rejects.toThrow(/version 1: .*rotate it to the KMS key first/);
  });
});

describe('KMS key references', () => {
  test('--to-kms takes the key URL and exactly one token source', () => {
    expect(parseKmsKeyUrl('https://bao.example:8200/v1/transit/keys/tdr')).toEqual({ address: 'https://bao.example:8200', mount: 'transit', keyName: 'tdr' });
    expect(parseKmsKeyUrl('http://127.0.0.1:8200/v1/kms/prod/keys/repo-1')).toEqual({ address: 'http://127.0.0.1:8200', mount: 'kms/prod', keyName: 'repo-1' });
    expect(() => parseKmsKeyUrl('https://bao.example:8200/transit/tdr')).toThrow(/expected the transit key's URL, <address>\/v1\/<mount>\/keys\/<name>/);
    expect(newKeyRef({ toKms: 'http://k:8200/v1/transit/keys/a', toKmsTokenSecret: 'dr/kms-token/token' }, 'source')).toEqual({
      kms: { address: 'http://k:8200', mount: 'transit', keyName: 'a', tokenFrom: { secret: { namespace: 'dr', name: 'kms-token', key: 'token' } } },
      context: 'source',
    });
    expect(() => newKeyRef({ toKms: 'http://k:8200/v1/transit/keys/a' })).toThrow(/exactly one of --to-kms-token-env VAR, --to-kms-token-secret/);
    expect(() => newKeyRef({ toEnv: 'X', toKms: 'http://k:8200/v1/transit/keys/a' })).toThrow(/exactly one of --to-env VAR, --to-secret namespace\/name\/key, --to-kms/);
    expect(() => newKeyRef({ toEnv: 'X', toKmsTokenEnv: 'T' })).toThrow(/go with --to-kms/);
  });

  test('the reference describes the key by its URL and carries no token', () => {
    const r: KmsKeyRef = { address: 'https://bao:8200/', mount: '/transit/', keyName: 'k', tokenFrom: { env: 'BAO_TOKEN' } };
    expect(kmsKeyUrl(r)).toBe('https://bao:8200/v1/transit/keys/k');
    expect(describeKeyRef({ kms: r })).toBe('KMS key https://bao:8200/v1/transit/keys/k');
  });
});
