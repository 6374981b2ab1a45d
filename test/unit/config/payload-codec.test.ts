import { defaultPayloadConverter } from '@temporalio/common';
import { EncryptionCodec, ENCRYPTED_ENCODING, generatePayloadKeys, parsePayloadKeys, PayloadDecryptionError } from '../../../config/payload-codec';

const plan = { metadata: { name: 'shop' }, spec: { store: { bucket: 'secret-bucket' } } };
const text = (b?: Uint8Array | null) => Buffer.from(b ?? []).toString('utf8');

describe('payload codec (TDR_PAYLOAD_KEYS)', () => {
  const old = generatePayloadKeys('k1');
  const codec = new EncryptionCodec(parsePayloadKeys(old)!);

  it('encrypts every payload under the first key, naming it, and decrypts it back', async () => {
    const plain = defaultPayloadConverter.toPayload(plan)!;
    const [sealed] = await codec.encode([plain]);
    expect(text(sealed!.metadata!.encoding)).toBe(ENCRYPTED_ENCODING);
    expect(text(sealed!.metadata!['encryption-key-id'])).toBe('k1');
    expect(text(sealed!.data)).not.toContain('secret-bucket');
    const [back] = await codec.decode([sealed!]);
    expect(defaultPayloadConverter.fromPayload(back!)).toEqual(plan);
  });

  it('rotates: a new first key encrypts, the old one still decrypts; without the old key, older payloads say which key they need', async () => {
    const [sealedOld] = await codec.encode([defaultPayloadConverter.toPayload(plan)!]);
    const rotated = new EncryptionCodec(parsePayloadKeys(`${generatePayloadKeys('k2')},${old}`)!);
    const [sealedNew] = await rotated.encode([defaultPayloadConverter.toPayload(plan)!]);
    expect(text(sealedNew!.metadata!['encryption-key-id'])).toBe('k2');
    expect(defaultPayloadConverter.fromPayload((await rotated.decode([sealedOld!]))[0]!)).toEqual(plan);
    await expect(codec.decode([sealedNew!])).rejects.toThrow(/encrypted with key "k2", which TDR_PAYLOAD_KEYS does not hold \(it holds k1\)/);
  });

  it('refuses a changed payload, and one relabelled with another key id', async () => {
    const [sealed] = await codec.encode([defaultPayloadConverter.toPayload(plan)!]);
    const flipped = Buffer.from(sealed!.data!);
    flipped[20] ^= 1;
    await expect(codec.decode([{ ...sealed!, data: flipped }])).rejects.toThrow(PayloadDecryptionError);
    const both = new EncryptionCodec(parsePayloadKeys(`${old},${'k9=' + parsePayloadKeys(old)!.keys.get('k1')!.toString('base64')}`)!);
    const relabelled = { ...sealed!, metadata: { ...sealed!.metadata, 'encryption-key-id': Buffer.from('k9') } };
    await expect(both.decode([relabelled])).rejects.toThrow(/key "k9" does not authenticate/);
  });

  it('passes plain payloads through (histories from before the codec replay)', async () => {
    const plain = defaultPayloadConverter.toPayload(plan)!;
    expect(await codec.decode([plain])).toEqual([plain]);
  });

  it.each([
    ['k1', /expected id=base64key/],
    ['k1=abc', /key k1 is 2 bytes; it must be 32 random bytes/],
    [`${generatePayloadKeys('a')},${generatePayloadKeys('a')}`, /key id a appears twice/],
  ])('rejects a bad TDR_PAYLOAD_KEYS (case %#), naming the problem', (value, error) => {
    expect(() => parsePayloadKeys(value)).toThrow(error);
  });

  it('is off when TDR_PAYLOAD_KEYS is unset or empty', () => {
    expect(parsePayloadKeys(undefined)).toBeUndefined();
    expect(parsePayloadKeys(' ')).toBeUndefined();
  });
});
