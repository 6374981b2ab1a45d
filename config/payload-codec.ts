/**
 * Encryption of Temporal payloads: workflow inputs and results, activity arguments, queries,
 * summaries and details are AES-256-GCM ciphertext in the server's history, readable only by
 * clients and workers that hold a key (and by the Temporal UI through `drctl codec-server`).
 *
 * Keys come from TDR_PAYLOAD_KEYS: `id=base64key[,id=base64key...]`. The first encrypts; every one
 * decrypts, so a key is rotated by putting a new one first and keeping the old ones until no open
 * history needs them. Each payload names its key in its metadata (`encryption-key-id`). Payloads
 * that are not encrypted (histories from before the codec) pass through unchanged.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { temporal } from '@temporalio/proto';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import { DrError, InvalidInputError } from '../shared/errors';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_VARIABLE = 'TDR_PAYLOAD_KEYS';

/** A payload that cannot be decrypted here: its key is not held, or its bytes were changed. */
export class PayloadDecryptionError extends DrError {
  /** Retrying cannot help: the key must be added to TDR_PAYLOAD_KEYS, or the payload was changed. */
  readonly retryable = false;
}

export interface PayloadKeys {
  /** The key new payloads are encrypted with. */
  current: string;
  keys: Map<string, Buffer>;
}

/** Parses TDR_PAYLOAD_KEYS; undefined when it is unset or empty (payloads stay plain). Pure. */
export function parsePayloadKeys(value: string | undefined): PayloadKeys | undefined {
  if (!value?.trim()) return undefined;
  const keys = new Map<string, Buffer>();
  for (const entry of value.split(',').map((e) => e.trim()).filter(Boolean)) {
    const m = /^([A-Za-z0-9._-]{1,64})=([A-Za-z0-9+/]+={0,2})$/.exec(entry);
    if (!m) throw new InvalidInputError(`${KEY_VARIABLE}: expected id=base64key[,id=base64key...] (e.g. k1=$(openssl rand -base64 32)), got an entry "${entry.split('=')[0]}=..."`);
    const key = Buffer.from(m[2]!, 'base64');
    if (key.length !== 32) throw new InvalidInputError(`${KEY_VARIABLE}: key ${m[1]} is ${key.length} bytes; it must be 32 random bytes as base64 (openssl rand -base64 32)`);
    if (keys.has(m[1]!)) throw new InvalidInputError(`${KEY_VARIABLE}: key id ${m[1]} appears twice; give each key its own id`);
    keys.set(m[1]!, key);
  }
  if (!keys.size) return undefined;
  return { current: keys.keys().next().value!, keys };
}

export class EncryptionCodec implements PayloadCodec {
  constructor(private readonly keys: PayloadKeys) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const key = this.keys.keys.get(this.keys.current)!;
    return payloads.map((p) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      // The key id is authenticated too: a payload moved under another key id fails to decrypt.
      cipher.setAAD(Buffer.from(this.keys.current));
      const plain = temporal.api.common.v1.Payload.encode(p).finish();
      const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return { metadata: { encoding: Buffer.from(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: Buffer.from(this.keys.current) }, data: sealed };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      if (Buffer.from(p.metadata?.encoding ?? []).toString() !== ENCRYPTED_ENCODING) return p;
      const keyId = Buffer.from(p.metadata?.[KEY_ID_METADATA] ?? []).toString();
      const key = this.keys.keys.get(keyId);
      if (!key) {
        throw new PayloadDecryptionError(`payload encrypted with key "${keyId}", which ${KEY_VARIABLE} does not hold (it holds ${[...this.keys.keys.keys()].join(', ')}); add that key to decrypt older runs`);
      }
      const data = Buffer.from(p.data ?? []);
      if (data.length < IV_BYTES + TAG_BYTES) throw new PayloadDecryptionError(`payload encrypted with key "${keyId}" is truncated (${data.length} bytes)`);
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
        decipher.setAAD(Buffer.from(keyId));
        decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
        const plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
        return temporal.api.common.v1.Payload.decode(plain) as Payload;
      } catch {
        throw new PayloadDecryptionError(`payload encrypted with key "${keyId}" does not authenticate: it was changed, or the key under that id is not the one it was encrypted with`);
      }
    });
  }
}

/** The data converter of every client and worker: encrypting when TDR_PAYLOAD_KEYS is set. */
export function payloadDataConverter(env: NodeJS.ProcessEnv = process.env): DataConverter {
  const keys = parsePayloadKeys(env[KEY_VARIABLE]);
  return keys ? { payloadCodecs: [new EncryptionCodec(keys)] } : {};
}

/** A fresh TDR_PAYLOAD_KEYS value with one key (for `npm run up` and tests). */
export function generatePayloadKeys(id = 'k1'): string {
  return `${id}=${randomBytes(32).toString('base64')}`;
}
