/**
 * B8 (bench/memory.ts): our node agent's data path on a tree of many tiny files, run as a child
 * process so that GNU time measures its whole peak RSS exactly like restic's and kopia's.
 *
 *   node dist/bench/memory-ours.js '<json request>'
 * Prints one line of JSON on stdout: the data path's result plus the peaks of V8's heap, external
 * and ArrayBuffer memory sampled every 250 ms and on every progress report (what the RSS is made of). Store credentials come
 * from AWS_ACCESS_KEY_ID/SECRET.
 */
import { parseMasterKey, Repository, backupTree, restoreTree } from '../activities/datapath';
import { benchStore, runChild } from './child';
import { ensureBucket } from '../activities/store/open-store';

export type MemoryOursRequest =
  | { op: 'backup'; endpoint: string; bucket: string; key: string; root: string; manifestKey: string; sessionId: string }
  | { op: 'restore'; endpoint: string; bucket: string; key: string; manifestKey: string; target: string };

export interface MemoryPeaks {
  heapUsedMiB: number;
  heapTotalMiB: number;
  externalMiB: number;
  arrayBuffersMiB: number;
  rssMiB: number;
}

const store = benchStore;

const peaks: MemoryPeaks = { heapUsedMiB: 0, heapTotalMiB: 0, externalMiB: 0, arrayBuffersMiB: 0, rssMiB: 0 };
function sample(): void {
  const m = process.memoryUsage();
  const mib = (n: number) => n / 1024 / 1024;
  peaks.heapUsedMiB = Math.max(peaks.heapUsedMiB, mib(m.heapUsed));
  peaks.heapTotalMiB = Math.max(peaks.heapTotalMiB, mib(m.heapTotal));
  peaks.externalMiB = Math.max(peaks.externalMiB, mib(m.external));
  peaks.arrayBuffersMiB = Math.max(peaks.arrayBuffersMiB, mib(m.arrayBuffers));
  peaks.rssMiB = Math.max(peaks.rssMiB, mib(m.rss));
}

async function main(): Promise<unknown> {
  const req = JSON.parse(process.argv[2] ?? '{}') as MemoryOursRequest;
  const timer = setInterval(sample, 250);
  timer.unref();
  const t0 = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - t0) / 1e9;
  switch (req.op) {
    case 'backup': {
      const s = store(req.endpoint, req.bucket);
      await ensureBucket(s);
      const repo = await Repository.init(s, parseMasterKey(req.key));
      const result = await backupTree(repo, { root: req.root, manifestKey: req.manifestKey, sessionId: req.sessionId, onProgress: sample });
      sample();
      return { inProcessS: elapsed(), result, stats: repo.stats, indexedChunks: repo.indexedChunks, peaks };
    }
    case 'restore': {
      const repo = await Repository.open(store(req.endpoint, req.bucket), parseMasterKey(req.key));
      sample();
      const afterOpen = { ...peaks };
      const result = await restoreTree(repo, { manifestKey: req.manifestKey, target: req.target, onProgress: sample });
      sample();
      return { inProcessS: elapsed(), result, stats: repo.stats, indexedChunks: repo.indexedChunks, afterOpen, peaks };
    }
    default:
      throw new Error(`unknown op ${(req as { op: string }).op}`);
  }
}

runChild(main);
