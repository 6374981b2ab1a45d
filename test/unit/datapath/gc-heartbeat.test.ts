/**
 * GC as an activity: it heartbeats from its loops with small progress details, stops when the
 * activity is cancelled (leaving no lock and deleting nothing half-way), and a stable lock id
 * lets a retried attempt replace the lock an attempt that crashed left behind.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { CancelledFailure } from '@temporalio/common';
import { backupTree, collectGarbage } from '../../../activities/datapath';
import type { GcResult } from '../../../activities/datapath/gc';
import { beat } from '../../../activities/util/heartbeat';
import { newRepo, prng, rmrf, tempDir } from './helpers';

const opts = { checkpointEveryBytes: 2 ** 40, checkpointEveryMs: 2 ** 30 };
const keysUnder = (store: { objects: Map<string, unknown> }, prefix: string) => [...store.objects.keys()].filter((k) => k.startsWith(prefix)).sort();

async function repoWithPoints(n: number) {
  const { repo, store } = await newRepo();
  const dirs: string[] = [];
  for (let i = 0; i < n; i++) {
    const d = await tempDir();
    dirs.push(d);
    await writeFile(join(d, 'x.bin'), prng(100 + i, 200_000));
    await backupTree(repo, { root: d, manifestKey: `p${i}/snap`, sessionId: `s${i}`, ...opts });
  }
  await Promise.all(dirs.map(rmrf));
  return { repo, store };
}

describe('GC in an activity', () => {
  test('heartbeats its progress from every stage', async () => {
    const { repo } = await repoWithPoints(4);
    const env = new MockActivityEnvironment();
    const beats: { stage: string }[] = [];
    env.on('heartbeat', (d: { stage: string }) => beats.push(d));
    const r = (await env.run(() => collectGarbage(repo, { liveManifestKeys: ['p2/snap', 'p3/snap'], graceMs: 0, onProgress: beat }))) as GcResult;
    expect(r.packsDeleted).toBeGreaterThan(0);
    const stages = new Set(beats.map((b) => b.stage));
    for (const s of ['sessions', 'manifests', 'index', 'packs', 'rewrite index', 'delete packs']) expect(stages).toContain(s);
    expect(JSON.stringify(beats[beats.length - 1]).length).toBeLessThan(200);
  });

  test('a cancelled GC stops with a CancelledFailure, removes its lock and deletes no pack', async () => {
    const { repo, store } = await repoWithPoints(4);
    const packsBefore = keysUnder(store, 'repo/packs/');
    const env = new MockActivityEnvironment();
    // Cancel as soon as the live set is being read: before anything could be deleted.
    env.on('heartbeat', (d: { stage: string }) => d.stage === 'manifests' && env.cancel());
    const err = await env.run(() => collectGarbage(repo, { liveManifestKeys: ['p3/snap'], graceMs: 0, onProgress: beat })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledFailure);
    expect(keysUnder(store, 'repo/packs/')).toEqual(packsBefore);
    expect(keysUnder(store, 'repo/locks/')).toEqual([]);
  });

  test('a stable lock id: the retry of a crashed attempt replaces its lock instead of leaving it', async () => {
    const { repo, store } = await repoWithPoints(2);
    // The crashed attempt's lock, left behind.
    await store.put('repo/locks/gc-run-1', '{}');
    await collectGarbage(repo, { liveManifestKeys: ['p0/snap', 'p1/snap'], graceMs: 0, lockId: 'run-1' });
    expect(keysUnder(store, 'repo/locks/')).toEqual([]);
  });
});
