import type { Command } from 'commander';
import { generateMasterKey } from '../../activities/datapath/crypto';
import { resolveKek } from '../../activities/store/open-repository';
import { openStore } from '../../activities/store/open-store';
import { rotateRepositoryKey } from '../../activities/store/rotate-key';
import { InvalidInputError } from '../../shared/errors';
import { standbyStoreRef } from '../../shared/plan';
import { describeKeyRef, type KeyRef } from '../../shared/store-ref';
import { storeAndKeyFromOptions, type StoreAndKeyOptions } from '../store-options';
import { printOutput, withOutput, type OutputOptions } from '../output';

interface RotateOpts extends StoreAndKeyOptions, OutputOptions {
  toEnv?: string;
  toSecret?: string;
  toContext?: string;
  toKms?: string;
  toKmsTokenEnv?: string;
  toKmsTokenSecret?: string;
  toKmsCa?: string;
  revokeOld?: boolean;
}

/** `<address>/v1/<mount>/keys/<name>` (a transit key's URL) → its address, mount and key name. */
export function parseKmsKeyUrl(url: string): { address: string; mount: string; keyName: string } {
  const m = /^(https?:\/\/[^/]+(?:\/[^]*?)?)\/v1\/(.+)\/keys\/([A-Za-z0-9][A-Za-z0-9._-]*)$/.exec(url.trim());
  if (!m) throw new InvalidInputError(`--to-kms: expected the transit key's URL, <address>/v1/<mount>/keys/<name> (e.g. https://openbao.example:8200/v1/transit/keys/tdr), got "${url}"`);
  return { address: m[1]!, mount: m[2]!, keyName: m[3]! };
}

function splitSecret(flag: string, value: string): { namespace: string; name: string; key: string } {
  const parts = value.split('/');
  if (parts.length !== 3 || parts.some((p) => !p)) throw new InvalidInputError(`${flag}: expected namespace/name/key, got "${value}"`);
  return { namespace: parts[0]!, name: parts[1]!, key: parts[2]! };
}

/**
 * The new key's reference from --to-env, --to-secret ns/name/key or --to-kms URL with its token
 * (--to-kms-token-env VAR or --to-kms-token-secret ns/name/key); Secrets are read through
 * --to-context, else the plan's source context.
 */
export function newKeyRef(
  opts: Pick<RotateOpts, 'toEnv' | 'toSecret' | 'toContext' | 'toKms' | 'toKmsTokenEnv' | 'toKmsTokenSecret' | 'toKmsCa'>,
  planContext?: string,
): KeyRef {
  if ([opts.toEnv, opts.toSecret, opts.toKms].filter((v) => v !== undefined).length !== 1) {
    throw new InvalidInputError('key rotate: give exactly one of --to-env VAR, --to-secret namespace/name/key, --to-kms <address>/v1/<mount>/keys/<name>');
  }
  if (opts.toKms === undefined && (opts.toKmsTokenEnv ?? opts.toKmsTokenSecret ?? opts.toKmsCa) !== undefined) {
    throw new InvalidInputError('key rotate: --to-kms-token-env, --to-kms-token-secret and --to-kms-ca go with --to-kms');
  }
  const context = opts.toContext ?? planContext;
  if (opts.toEnv !== undefined) return { env: opts.toEnv };
  if (opts.toSecret !== undefined) return { secret: splitSecret('--to-secret', opts.toSecret), ...(context ? { context } : {}) };
  if ((opts.toKmsTokenEnv === undefined) === (opts.toKmsTokenSecret === undefined)) {
    throw new InvalidInputError('key rotate --to-kms: give exactly one of --to-kms-token-env VAR, --to-kms-token-secret namespace/name/key (where the KMS token is)');
  }
  const tokenFrom = opts.toKmsTokenEnv !== undefined ? { env: opts.toKmsTokenEnv } : { secret: splitSecret('--to-kms-token-secret', opts.toKmsTokenSecret!) };
  return { kms: { ...parseKmsKeyUrl(opts.toKms!), tokenFrom, ...(opts.toKmsCa ? { caFile: opts.toKmsCa } : {}) }, ...(context ? { context } : {}) };
}

export function registerKeyCommands(program: Command): void {
  const key = program.command('key').description('repository encryption keys');
  key
    .command('generate')
    .description('print a new random 32-byte key (base64) to put in the variable or Secret a plan names')
    .action(() => console.log(generateMasterKey()));

  withOutput(
    key
      .command('rotate')
      .description("wrap the repository key under a new key-encryption key (only repo/config is rewritten, at the primary's and the plan's standby stores); then point the plan's keyFrom at the new key")
      .option('--plan <file>', "the plan: its store, its current key, its standby stores")
      .option('--store <url>', "s3://bucket/prefix (default: the plan's)")
      .option('--endpoint <url>', 'S3 endpoint (default: S3_ENDPOINT)')
      .option('--key-env <name>', "environment variable holding the current key (default: the plan's key)")
      .option('--to-env <name>', 'environment variable holding the new key')
      .option('--to-secret <ns/name/key>', 'Secret key holding the new key')
      .option('--to-kms <url>', "a KMS transit key that wraps the repository key and never leaves the KMS: <address>/v1/<mount>/keys/<name> (OpenBao, Vault); the plan's own KMS key again rewraps its entry under the key's newest version")
      .option('--to-kms-token-env <name>', 'environment variable holding the token for --to-kms')
      .option('--to-kms-token-secret <ns/name/key>', 'Secret key holding the token for --to-kms')
      .option('--to-kms-ca <file>', "PEM file of the CA of --to-kms's https address")
      .option('--to-context <context>', "kubeconfig context to read --to-secret or --to-kms-token-secret from (default: the plan's source context)")
      .option('--revoke-old', 'remove the current key\'s entry: it no longer opens the repository (old or new points)'),
  ).action(async (opts: RotateOpts) => {
    const { ref, key: currentRef, plan } = await storeAndKeyFromOptions(opts);
    const nextRef = newKeyRef(opts, plan?.spec.source.context);
    const [current, next] = [await resolveKek(currentRef), await resolveKek(nextRef)];
    const standbys = opts.store ? [] : (plan?.spec.standbys ?? []).map((s) => openStore(standbyStoreRef(s)));
    const r = await rotateRepositoryKey(openStore(ref), current, next, {
      currentRef: describeKeyRef(currentRef),
      newRef: describeKeyRef(nextRef),
      revokeOld: !!opts.revokeOld,
      standbys,
    });
    printOutput(opts, r, () =>
      [
        `${r.location}: repository key ${r.rewrapped ? 'rewrapped under the newest version of' : 'wrapped under'} key ${r.toKek} (${describeKeyRef(nextRef)})${r.upgradedFromV1 ? '; config upgraded from version 1 (the old key stays the repository key: see README, Encryption)' : ''}`,
        r.rewrapped ? `  (same KMS key: its entry was rewrapped by the KMS; older versions of the key can be retired with min_decryption_version)` : r.revoked ? `  key ${r.fromKek} (${describeKeyRef(currentRef)}) revoked: it no longer opens this repository` : `  key ${r.fromKek} (${describeKeyRef(currentRef)}) still opens it (--revoke-old removes it)`,
        `  keys that open it: ${r.kekIds.join(', ')}`,
        ...r.standbys.map((s) => `  standby ${s.location}: ${s.outcome === 'updated' ? 'config updated' : s.outcome === 'absent' ? 'no repository yet (the first ship copies the new config)' : 'holds another repository (left alone)'}`),
        `next: point the plan's spec.store.encryption.keyFrom at ${describeKeyRef(nextRef)} and make it available to the workers and node agents`,
      ].join('\n'),
      () => [r.location],
    );
  });
}
