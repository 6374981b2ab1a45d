import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { restore } from '../../workflows';
import { restoreWorkflowId, type RestoreProgress, type RestoreReport } from '../../workflows/restore';
import { newRestoreId, type RestoreRequest } from '../../shared/restore-request';
import { parseTransformRules } from '../../shared/transform';
import { InvalidInputError } from '../../shared/errors';
import { DrOperation, DrPlan, DrTargetCluster } from '../../shared/search-attributes';
import { openStore } from '../../activities/store/open-store';
import { openClient } from '../temporal-client';
import { storeAndKeyFromOptions } from '../store-options';
import { followProgress, formatBytes } from '../progress';
import { runResult } from '../run-result';

const collect = (v: string, prev: string[] = []) => [...prev, v];

function pairs(flag: string, values: string[] | undefined): Record<string, string> | undefined {
  if (!values?.length) return undefined;
  return Object.fromEntries(
    values.map((v) => {
      const [a, b] = v.split('=');
      if (!a || !b) throw new InvalidInputError(`${flag}: expected from=to, got "${v}"`);
      return [a, b];
    }),
  );
}

interface RestoreOpts {
  point?: string;
  to: string;
  clusterName?: string;
  store?: string;
  endpoint?: string;
  plan?: string;
  keyEnv?: string;
  namespaceMap?: string[];
  storageClassMap?: string[];
  imageRegistry?: string[];
  transforms?: string;
  ignorePlanTransforms?: boolean;
  includeNamespace?: string[];
  includeKind?: string[];
  includeName?: string[];
  volume?: string[];
  existing: string;
  dryRun?: boolean;
  rollbackOnFailure?: boolean;
  checks?: string;
  waitReadyTimeout: number;
  wait: boolean;
}

export function registerRestoreCommand(program: Command): void {
  program
    .command('restore [point]')
    .description('restore a recovery point (<plan>/<id> or <plan>/latest) to a cluster; works from the object store alone')
    .option('--point <point>', 'the point, as <plan>/<id> or <plan>/latest (alternative to the argument)')
    .requiredOption('--to <context>', 'kubeconfig context of the target cluster')
    .option('--cluster-name <name>', 'cluster name the target\'s node agents use (default: the context)')
    .option('--store <url>', 's3://bucket/prefix (default: the plan\'s, else S3_BUCKET/S3_PREFIX)')
    .option('--endpoint <url>', 'S3 endpoint (default: S3_ENDPOINT)')
    .option('--plan <file>', 'take the store and key from a plan file')
    .option('--key-env <name>', 'worker environment variable holding the encryption key (default TDR_ENCRYPTION_KEY)')
    .option('--namespace-map <from=to>', 'restore a namespace under another name (repeatable)', collect)
    .option('--storage-class-map <from=to>', 'use another storage class on the target (repeatable)', collect)
    .option('--image-registry <from=to>', 'rewrite image prefixes (repeatable)', collect)
    .option('--transforms <file>', 'YAML list of transform rules (same format as a plan\'s spec.transforms)')
    .option('--ignore-plan-transforms', 'do not apply the transforms stored in the point\'s plan')
    .option('--include-namespace <glob>', 'restore only these namespaces (repeatable)', collect)
    .option('--include-kind <kind>', 'restore only these kinds (repeatable)', collect)
    .option('--include-name <glob>', 'restore only objects with these names (repeatable)', collect)
    .option('--volume <ns/pvc>', 'restore only the data of this PVC (repeatable)', collect)
    .option('--existing <policy>', 'objects that already exist on the target: skip, update or fail', 'fail')
    .option('--dry-run', 'show the plan (every object, its transforms, what exists) without changing anything')
    .option('--rollback-on-failure', 'if the restore fails, delete exactly what it created')
    .option('--checks <file>', 'YAML list of post-restore checks: {name, namespace, matchLabels, container?, command, timeout?}')
    .option('--wait-ready-timeout <seconds>', 'how long to wait for workloads to become ready', (v) => Number(v), 600)
    .option('--no-wait', 'print the workflow ID and return at once')
    .action(async (pointArg: string | undefined, opts: RestoreOpts) => {
      const pointRef = pointArg ?? opts.point;
      if (!pointRef || !pointRef.includes('/')) throw new InvalidInputError('point: give it as <plan>/<point-id> or <plan>/latest (argument or --point)');
      if (!['skip', 'update', 'fail'].includes(opts.existing)) throw new InvalidInputError(`--existing: expected skip, update or fail, got "${opts.existing}"`);
      const [planName, pointId] = pointRef.split('/');
      const { ref: store, key: given, keyEnv } = await storeAndKeyFromOptions(opts);
      // A key (or a KMS token) in a Secret is read where the restore runs: the target cluster.
      const key = 'secret' in given || 'kms' in given ? { ...given, context: opts.to } : given;
      if (!(opts.waitReadyTimeout > 0)) throw new InvalidInputError('--wait-ready-timeout: expected a positive number of seconds (e.g. 3600 to wait an hour)');
      const readYaml = (file: string, what: string) => {
        try {
          return parseYaml(readFileSync(file, 'utf8'));
        } catch (err) {
          throw new InvalidInputError(`${what} ${file}: ${(err as Error).message}`);
        }
      };
      const req: RestoreRequest = {
        restoreId: newRestoreId(new Date(), planName, randomBytes(3).toString('hex')),
        store,
        ...(keyEnv ? { keyEnv } : {}),
        key,
        planName,
        pointId,
        target: { context: opts.to, clusterName: opts.clusterName ?? opts.to },
        namespaceMapping: pairs('--namespace-map', opts.namespaceMap),
        storageClassMapping: pairs('--storage-class-map', opts.storageClassMap),
        imageRegistry: opts.imageRegistry?.map((v) => {
          const [from, to] = v.split('=');
          if (!from || to === undefined) throw new InvalidInputError(`--image-registry: expected from=to, got "${v}"`);
          return { from, to };
        }),
        transforms: opts.transforms ? parseTransformRules(readYaml(opts.transforms, '--transforms'), opts.transforms) : undefined,
        ignorePlanTransforms: opts.ignorePlanTransforms,
        include: { namespaces: opts.includeNamespace, kinds: opts.includeKind, names: opts.includeName },
        volumesOnly: opts.volume,
        existingPolicy: opts.existing as RestoreRequest['existingPolicy'],
        dryRun: !!opts.dryRun,
        rollbackOnFailure: !!opts.rollbackOnFailure,
        postRestoreChecks: opts.checks ? readYaml(opts.checks, '--checks') : undefined,
        waitReadyTimeoutMs: opts.waitReadyTimeout * 1000,
      };
      const dr = await openClient();
      try {
        const handle = await dr.client.workflow.start(restore, {
          taskQueue: dr.settings.taskQueue,
          workflowId: restoreWorkflowId(req.restoreId),
          args: [req],
          typedSearchAttributes: [
            { key: DrPlan, value: planName },
            { key: DrOperation, value: req.dryRun ? 'restore-dry-run' : 'restore' },
            { key: DrTargetCluster, value: req.target.clusterName },
          ],
          staticSummary: `${req.dryRun ? 'Dry run of the restore' : 'Restore'} of ${pointRef} to ${opts.to}`,
        });
        console.log(`started restore ${handle.workflowId}`);
        if (!opts.wait) return;
        await followProgress<RestoreProgress>(handle, (p) => `[${p.phase}] objects ${p.objectsApplied}/${p.objectsTotal}, volumes ${p.volumesDone}/${p.volumesTotal}, ${formatBytes(p.bytesWritten)} written`);
        const r = await runResult<RestoreReport>(handle, `restore of ${pointRef}`);
        if (r.dryRun) return printDryRun(store, r);
        console.log(
          `restored ${r.point} to ${r.target} in ${(r.rtoMs / 1000).toFixed(1)} s (RTO: start to every workload ready): ` +
            `${r.created} created, ${r.updated} updated, ${r.skipped} skipped; ${r.volumes.length} volume(s)`,
        );
        for (const v of r.volumes) console.log(`  volume ${v.pvc} on ${v.node}: ${v.files} files, ${formatBytes(v.bytes)}`);
        for (const c of r.checks) console.log(`  check ${c.name} in ${c.pod}: ${c.ok ? 'ok' : 'FAILED'}`);
      } finally {
        await dr.close();
      }
    });
}

async function printDryRun(ref: RestoreRequest['store'], r: RestoreReport): Promise<void> {
  const body = await openStore(ref).get(r.plan.reportKey);
  const report = JSON.parse(body!.toString('utf8')) as {
    waves: { phase: string; objects: { object: string; from: string; transforms: string[]; existsOnTarget: boolean }[] }[];
  };
  console.log(`dry run: restore of ${r.point} to ${r.target} would apply ${r.plan.objects} objects in ${r.plan.waves.length} waves (${r.plan.existing} exist already, ${r.plan.dropped} dropped); nothing was changed`);
  report.waves.forEach((w, i) => {
    console.log(`wave ${i + 1}: ${w.phase}`);
    for (const o of w.objects) {
      const from = o.from !== o.object ? ` (from ${o.from})` : '';
      console.log(`  ${o.object}${from}${o.existsOnTarget ? '  [exists]' : ''}${o.transforms.length ? `  <- ${o.transforms.join(', ')}` : ''}`);
    }
  });
  for (const v of r.plan.volumes) console.log(`volume data: ${v.source.namespace}/${v.source.pvc} -> ${v.namespace}/${v.pvc} (${formatBytes(v.bytes)})`);
}
