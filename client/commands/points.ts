import type { Command } from 'commander';
import { listPoints, readCatalog, readUnverifiedCatalog, resolvePointRef } from '../../activities/catalog/points';
import { verifyPoint } from '../../activities/catalog/verify-point';
import { openStore } from '../../activities/store/open-store';
import { openRepository, openRepositoryKeys } from '../../activities/store/open-repository';
import { DataCorruptionError } from '../../shared/errors';
import { keyAvailable, storeAndKeyFromOptions, type StoreAndKeyOptions } from '../store-options';
import { describeKeyRef } from '../../shared/store-ref';
import { formatBytes } from '../progress';
import { registerPruneCommand } from './prune';
import { printOutput, withOutput, type OutputOptions } from '../output';
import { planSource } from '../plan-source';


const storeOptions = (c: Command) =>
  c
    .option('--store <url>', 's3://bucket/prefix (default: S3_BUCKET and S3_PREFIX)')
    .option('--endpoint <url>', 'S3 endpoint (default: S3_ENDPOINT)')
    .option('--plan <file>', 'take the store and key from a plan file')
    .option('--key-env <name>', 'environment variable holding the encryption key (default: the plan\'s, else TDR_ENCRYPTION_KEY)');

export function registerPointsCommands(program: Command): void {
  const points = program.command('points').description('recovery points, read straight from the object store (no Temporal needed, except prune, which runs on the worker)');

  withOutput(storeOptions(points.command('list [plan]').description('list recovery points, newest first; with -n <namespace>, [plan] names a DRPlan resource whose store and key are used'))).action(async (planName: string | undefined, opts: StoreAndKeyOptions & OutputOptions) => {
    // `points list shop -n ns`: the DRPlan shop is both the filter and where the store comes from.
    const { ref, key } = await storeAndKeyFromOptions(planSource().namespace && planName && !opts.plan ? { ...opts, plan: planName } : opts);
    const keys = keyAvailable(key) ? await openRepositoryKeys(ref, key, { absent: 'undefined' }) : undefined;
    const list = await listPoints(openStore(ref), planName, keys);
    const detail = (p: (typeof list)[number]) =>
      p.status === 'complete'
        ? `${p.resources} objects, ${p.volumes} volumes, ${formatBytes(p.bytes ?? 0)}, completed ${p.completedAt}${p.verified ? '' : ` (unverified: ${describeKeyRef(key)} is not set)`}`
        : p.status === 'failed' || p.status === 'untrusted'
          ? `${p.status}: ${p.reason?.split('\n')[0]}`
          : 'in progress or abandoned';
    printOutput(
      opts,
      list,
      () => (list.length ? list.map((p) => `${p.planName}/${p.pointId}  ${p.status.padEnd(11)}  ${detail(p)}`).join('\n') : `no recovery points in s3://${ref.bucket}/${ref.prefix}`),
      () => list.map((p) => `${p.planName}/${p.pointId}`),
    );
  });

  withOutput(storeOptions(points.command('describe <point>').description('show a point\'s catalog (<plan>/<id> or <plan>/latest); -o json or yaml prints the whole catalog')))
    .action(async (pointRef: string, opts: StoreAndKeyOptions & OutputOptions) => {
      const { ref, key } = await storeAndKeyFromOptions(opts);
      const store = openStore(ref);
      const keys = keyAvailable(key) ? await openRepositoryKeys(ref, key) : undefined;
      const { planName, pointId } = await resolvePointRef(store, pointRef, keys);
      const c = keys ? await readCatalog(store, planName, pointId, keys) : await readUnverifiedCatalog(store, planName, pointId);
      if (!keys) console.error(`note: ${describeKeyRef(key)} is not set, so this catalog is shown unverified (it may have been changed by anyone who can write to the bucket)`);
      if (opts.json || opts.output !== 'table') return printOutput(opts, c, () => '', () => [`${planName}/${pointId}`]);
      console.log(`point ${planName}/${pointId}: ${c.status}, source ${c.source.clusterName} (Kubernetes ${c.source.kubernetesVersion})`);
      console.log(`  started ${c.startedAt}, completed ${c.completedAt}`);
      const kinds = new Map<string, number>();
      for (const r of c.resources.items) kinds.set(r.kind, (kinds.get(r.kind) ?? 0) + 1);
      console.log(`  ${c.totals.resources} objects: ${[...kinds].map(([k, n]) => `${n} ${k}`).join(', ')}`);
      for (const v of c.volumes) console.log(`  volume ${v.pvc.namespace}/${v.pvc.name} (${v.size}, ${v.storageClass ?? 'no class'}, ${v.mode}): ${v.noData ? `no data (${v.noData})` : `${v.files} files, ${formatBytes(v.bytes)}`}`);
      for (const h of c.hooks) console.log(`  hook ${h.hook} ${h.step} in ${h.pod.namespace}/${h.pod.name}: ${h.result} (${h.durationMs} ms)`);
      for (const t of c.timings) console.log(`  ${t.phase.padEnd(16)} ${t.durationMs} ms`);
    });

  storeOptions(points.command('verify <point>').description('check every checksum of a point; --read-data also reads and authenticates every chunk'))
    .option('--read-data', 'read every chunk of every volume')
    .action(async (pointRef: string, opts: StoreAndKeyOptions & { readData?: boolean }) => {
      const { ref, key } = await storeAndKeyFromOptions(opts);
      const store = openStore(ref);
      const repo = await openRepository(ref, key, { create: false });
      const { planName, pointId } = await resolvePointRef(store, pointRef, repo.keys);
      const catalog = await readCatalog(store, planName, pointId, repo.keys);
      const r = await verifyPoint(repo, catalog, { readData: !!opts.readData });
      if (r.problems.length) {
        throw new DataCorruptionError(`point ${planName}/${pointId} failed verification:\n  ${r.problems.slice(0, 50).join('\n  ')}`);
      }
      console.log(`point ${planName}/${pointId} verified: ${r.resources} objects, ${r.volumes} volumes, ${r.chunks} chunks indexed${opts.readData ? `, ${r.chunksRead} chunks read (${formatBytes(r.bytesRead)})` : ''}`);
    });

  registerPruneCommand(points);
}
