/**
 * Key-encryption keys held by a Vault-compatible KMS (OpenBao, HashiCorp Vault): its transit
 * engine wraps the repository key (`POST /v1/<mount>/encrypt/<key>`) and unwraps it
 * (`POST /v1/<mount>/decrypt/<key>`); the key-encryption key never leaves the KMS. The token is
 * sent in the X-Vault-Token header only: it is never logged, never put in an error message (the
 * KMS's own messages are scrubbed of it too), never returned, and never stored.
 */
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { DrError, EncryptionKeyError, InvalidInputError } from '../../shared/errors';
import { kmsKeyUrl, type KmsKeyRef } from '../../shared/store-ref';
import type { RemoteKek } from '../datapath/crypto';

/** The KMS cannot be reached, is sealed, or answered with a server error: retryable. */
export class KmsUnavailableError extends DrError {
  readonly retryable = true;
  constructor(message: string, readonly key: string) {
    super(message);
  }
}

/**
 * The KMS refused to wrap or unwrap with the key: the token lacks the permission, the key does
 * not exist (deleted, another name or mount), or the entry's key version was retired
 * (min_decryption_version raised). Not retryable: the message names the key and the fix.
 */
export class KmsKeyRefusedError extends EncryptionKeyError {
  constructor(message: string, readonly key: string) {
    super(message);
  }
}

/** The wrapped-entry id of a KMS key: `transit:` and the key's URL (no secret in it). */
export const kmsKekId = (ref: Pick<KmsKeyRef, 'address' | 'mount' | 'keyName'>): string => `transit:${kmsKeyUrl(ref)}`;

const TIMEOUT_MS = 15_000;

type Op = 'encrypt' | 'decrypt' | 'rewrap';

/**
 * A RemoteKek on the transit key `ref` names, calling the KMS with `token`. `tokenRef` says where
 * the token comes from, for messages ("environment variable VAULT_TOKEN").
 */
export function transitKek(ref: KmsKeyRef, token: string, tokenRef: string): RemoteKek {
  const keyUrl = kmsKeyUrl(ref);
  const mount = ref.mount.replace(/^\/+|\/+$/g, '');
  let ca: Buffer | undefined;
  if (ref.caFile) {
    try {
      ca = readFileSync(ref.caFile);
    } catch (err) {
      throw new InvalidInputError(`KMS key ${keyUrl}: caFile ${ref.caFile} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); set it to the PEM file of the KMS's CA`);
    }
  }
  const scrub = (s: string): string => (token ? s.split(token).join('[token]') : s);

  const call = async (op: Op, body: Record<string, string>): Promise<Record<string, unknown>> => {
    const url = new URL(`${ref.address.replace(/\/+$/, '')}/v1/${mount}/${op}/${encodeURIComponent(ref.keyName)}`);
    const payload = Buffer.from(JSON.stringify(body));
    const lib = url.protocol === 'https:' ? https : http;
    const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = lib.request(
        url,
        {
          method: 'POST',
          headers: { 'X-Vault-Token': token, 'Content-Type': 'application/json', 'Content-Length': payload.length },
          timeout: TIMEOUT_MS,
          ...(ca ? { ca } : {}),
        },
        (r) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          r.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${TIMEOUT_MS / 1000}s`), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
      req.end(payload);
    }).catch((err: NodeJS.ErrnoException) => {
      throw new KmsUnavailableError(
        `KMS key ${keyUrl}: the KMS cannot be reached to ${op} (${err.code ?? scrub(err.message)}): check that it runs at ${ref.address}, is unsealed and reachable from this worker; retrying`,
        keyUrl,
      );
    });
    let parsed: { data?: Record<string, unknown>; errors?: unknown[] } = {};
    try {
      parsed = res.text ? (JSON.parse(res.text) as typeof parsed) : {};
    } catch {
      /* a proxy's HTML page: the status says enough */
    }
    if (res.status >= 200 && res.status < 300 && parsed.data) return parsed.data;
    // Vault-style errors are multi-line ("1 error occurred:\n\t* permission denied\n\n"): one line each.
    const lines = (parsed.errors ?? []).map((e) => String(e).replace(/^\d+ errors? occurred:/, '').replace(/\s*\*\s+/g, ' ').replace(/\s+/g, ' ').trim());
    const said = scrub(lines.filter(Boolean).join('; ') || `HTTP ${res.status}`).slice(0, 300);
    if (res.status >= 500 || res.status === 429 || res.status === 412 || res.status === 0) {
      throw new KmsUnavailableError(`KMS key ${keyUrl}: the KMS could not ${op} (HTTP ${res.status}: ${said}); it may be sealed, a standby, or overloaded; retrying`, keyUrl);
    }
    if (res.status === 403) {
      throw new KmsKeyRefusedError(
        `KMS key ${keyUrl}: permission denied to ${op} with the token from ${tokenRef} (${said}); ` +
          `give that token a policy with capabilities ["update"] on "${mount}/encrypt/${ref.keyName}" and "${mount}/decrypt/${ref.keyName}" (and "${mount}/rewrap/${ref.keyName}" for drctl key rotate), or renew it if it expired`,
        keyUrl,
      );
    }
    if (/not found|no handler|unsupported path/i.test(said) || res.status === 404) {
      throw new KmsKeyRefusedError(
        `KMS key ${keyUrl}: the KMS has no such key (${said}): it was deleted, or keyName/mount are wrong; ` +
          `a repository whose only wrapped entry is under a deleted KMS key cannot be opened again: use another key it lists in repo/config`,
        keyUrl,
      );
    }
    if (/disallowed by policy|too old|min_decryption_version/i.test(said)) {
      throw new KmsKeyRefusedError(
        `KMS key ${keyUrl}: the key version that wrapped this repository's key is retired (${said}); ` +
          `lower the key's min_decryption_version to reopen it, or rotate with a key that still opens the repository`,
        keyUrl,
      );
    }
    throw new KmsKeyRefusedError(`KMS key ${keyUrl}: the KMS refused to ${op} (HTTP ${res.status}: ${said})`, keyUrl);
  };

  const text = (data: Record<string, unknown>, field: string, op: Op): string => {
    const v = data[field];
    if (typeof v !== 'string' || !v) throw new KmsUnavailableError(`KMS key ${keyUrl}: the KMS's ${op} answer has no ${field}`, keyUrl);
    return v;
  };

  // One operation opens a repository a few times (e.g. a ship: both stores): one decrypt per entry.
  const unwrapped = new Map<string, Buffer>();
  return {
    id: kmsKekId(ref),
    wrap: async (dek) => text(await call('encrypt', { plaintext: dek.toString('base64') }), 'ciphertext', 'encrypt'),
    unwrap: async (wrapped) => {
      const known = unwrapped.get(wrapped);
      if (known) return Buffer.from(known);
      const dek = Buffer.from(text(await call('decrypt', { ciphertext: wrapped }), 'plaintext', 'decrypt'), 'base64');
      unwrapped.set(wrapped, Buffer.from(dek));
      return dek;
    },
    rewrap: async (wrapped) => text(await call('rewrap', { ciphertext: wrapped }), 'ciphertext', 'rewrap'),
  };
}
