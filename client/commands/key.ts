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
  revokeOld?: boolean;
}

/** The new key's reference from --to-env or --to-secret ns/name/key (read through --to-context, else the plan's source context). */
export function newKeyRef(opts: Pick<RotateOpts, 'toEnv' | 'toSecret' | 'toContext'>, planContext?: string): KeyRef {
  if ((opts.toEnv === undefined) === (opts.toSecret === undefined)) throw new InvalidInputError('key rotate: give exactly one of --to-env VAR, --to-secret namespace/name/key');
  if (opts.toEnv !== undefined) return { env: opts.toEnv };
  const parts = opts.toSecret!.split('/');
  if (parts.length !== 3 || parts.some((p) => !p)) throw new InvalidInputError(`--to-secret: expected namespace/name/key, got "${opts.toSecret}"`);
  const context = opts.toContext ?? planContext;
  return { secret: { namespace: parts[0]!, name: parts[1]!, key: parts[2]! }, ...(context ? { context } : {}) };
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
      .option('--to-context <context>', "kubeconfig context to read --to-secret from (default: the plan's source context)")
      .option('--revoke-old', 'remove the current key\'s entry: it no longer opens the repository (old or new points)'),
  ).action(async (opts: RotateOpts) => {
    const { ref, key: currentRef, plan } = storeAndKeyFromOptions(opts);
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
        `${r.location}: repository key wrapped under key ${r.toKek} (${describeKeyRef(nextRef)})${r.upgradedFromV1 ? '; config upgraded from version 1 (the old key stays the repository key: see README, Encryption)' : ''}`,
        r.revoked ? `  key ${r.fromKek} (${describeKeyRef(currentRef)}) revoked: it no longer opens this repository` : `  key ${r.fromKek} (${describeKeyRef(currentRef)}) still opens it (--revoke-old removes it)`,
        `  keys that open it: ${r.kekIds.join(', ')}`,
        ...r.standbys.map((s) => `  standby ${s.location}: ${s.outcome === 'updated' ? 'config updated' : s.outcome === 'absent' ? 'no repository yet (the first ship copies the new config)' : 'holds another repository (left alone)'}`),
        `next: point the plan's spec.store.encryption.keyFrom at ${describeKeyRef(nextRef)} and make it available to the workers and node agents`,
      ].join('\n'),
      () => [r.location],
    );
  });
}
