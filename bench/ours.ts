/**
 * Our side of the suite's comparisons, run as a child process so that it is measured exactly like
 * the baseline tools (wall time, CPU-seconds and peak RSS of a whole process, start-up included).
 *
 *   node dist/bench/ours.js '<json request>'
 * Prints one line of JSON on stdout. Store credentials come from AWS_ACCESS_KEY_ID/SECRET.
 */
import { generateMasterKey, parseMasterKey, Repository, backupTree, restoreTree } from '../activities/datapath';
import { benchStore, runChild } from './child';
import { ensureBucket } from '../activities/store/open-store';
import { pipelineBench } from './datapath';

export type OursRequest =
  | { op: 'pipeline'; file: string; runs?: number }
  /** `createBucket`: make the bucket first (the suite makes its buckets itself, so that a backup's requests are the product's only). */
  | { op: 'backup'; endpoint: string; bucket: string; key: string; root: string; manifestKey: string; sessionId: string; parentManifestKey?: string; createBucket?: boolean }
  | { op: 'restore'; endpoint: string; bucket: string; key: string; manifestKey: string; target: string }
  | { op: 'genkey' };

const store = benchStore;

async function main(): Promise<unknown> {
  const req = JSON.parse(process.argv[2] ?? '{}') as OursRequest;
  const t0 = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - t0) / 1e9;
  switch (req.op) {
    case 'genkey':
      return { key: generateMasterKey() };
    case 'pipeline':
      return await pipelineBench(req.file, req.runs ?? 3);
    case 'backup': {
      const s = store(req.endpoint, req.bucket);
      if (req.createBucket) await ensureBucket(s);
      const repo = await Repository.init(s, parseMasterKey(req.key));
      const result = await backupTree(repo, { root: req.root, manifestKey: req.manifestKey, sessionId: req.sessionId, parentManifestKey: req.parentManifestKey });
      return { inProcessS: elapsed(), result, stats: repo.stats };
    }
    case 'restore': {
      const repo = await Repository.open(store(req.endpoint, req.bucket), parseMasterKey(req.key));
      const result = await restoreTree(repo, { manifestKey: req.manifestKey, target: req.target });
      return { inProcessS: elapsed(), result, stats: repo.stats };
    }
    default:
      throw new Error(`unknown op ${(req as { op: string }).op}`);
  }
}

runChild(main);
