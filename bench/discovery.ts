/**
 * B6: discovery of one namespace holding many objects over 60 kinds, on the local "source" cluster.
 *
 *   Kinds: 10 namespaced built-ins no controller acts on (ConfigMap, Secret, ServiceAccount, Role,
 *   RoleBinding, PodTemplate, LimitRange, NetworkPolicy, Ingress, selector-less Endpoints) and 50
 *   generated CRDs thing<N>.bench.tdr.io (permissive schema); objects spread evenly over the kinds.
 *   Two sizes in the same run, BENCH_DISCOVERY_OBJECTS/10 then BENCH_DISCOVERY_OBJECTS (default
 *   100,000): the namespace is filled to the first size, measured, filled to the second, measured.
 *   Filling uses raw parallel POSTs (bench/apply-raw.ts) and is not timed.
 *
 * Ours: bench/discover-ours.ts, the backup's discovery (connectCluster + discoverApplication, list
 * concurrency 8) in its own process. Baseline: `kubectl get <resource> -n NS -o json` for every
 * namespaced kind the server lists (`kubectl api-resources --namespaced --verbs=list,get`, the same
 * kinds our discovery lists), 8 at a time (xargs -P 8). Both measured with run(): wall, CPU-s and
 * peak RSS (kubectl: the largest of its processes). Best wall time of ctx.repeat rounds.
 * BENCH_DISCOVERY_PROFILE=1 (or =<dir>) also runs ours twice more at the largest size, with
 * --cpu-prof and with --heap-prof, into the workdir (kept with BENCH_KEEP=1) or <dir>.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startBenchStack } from './stack';
import { run, type Measured } from './measure';
import type { BenchContext } from './run';
import type { Obj, RawApplyRequest } from './apply-raw';
import { fmt } from './table';

const NS = 'bench-disc';
const CRDS = 50;
const CONCURRENCY = 8; // LIST_CONCURRENCY of activities/discovery/discover-application.ts

type Gen = (i: number) => Obj;
const meta = (name: string) => ({ name, namespace: NS, labels: { 'app.kubernetes.io/part-of': 'bench-disc' } });

const BUILT_INS: [string, Gen][] = [
  ['cm', (i) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(`cm-${i}`), data: { key: `value-${i}`, other: 'x'.repeat(64 + (i % 64)) } })],
  ['secret', (i) => ({ apiVersion: 'v1', kind: 'Secret', metadata: meta(`secret-${i}`), type: 'Opaque', data: { token: Buffer.from(`token-${i}-${'y'.repeat(32)}`).toString('base64') } })],
  ['sa', (i) => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(`sa-${i}`) })],
  ['role', (i) => ({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: meta(`role-${i}`), rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }] })],
  [
    'rb',
    (i) => ({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta(`rb-${i}`),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'role-0' },
      subjects: [{ kind: 'ServiceAccount', name: 'sa-0', namespace: NS }],
    }),
  ],
  ['podtemplate', (i) => ({ apiVersion: 'v1', kind: 'PodTemplate', metadata: meta(`pt-${i}`), template: { metadata: { labels: { app: `pt-${i}` } }, spec: { containers: [{ name: 'c', image: 'registry.example.com/bench/app:1.0' }] } } })],
  ['limitrange', (i) => ({ apiVersion: 'v1', kind: 'LimitRange', metadata: meta(`lr-${i}`), spec: { limits: [{ type: 'Container', defaultRequest: { cpu: '10m' } }] } })],
  ['netpol', (i) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: meta(`np-${i}`), spec: { podSelector: { matchLabels: { app: `a-${i}` } }, policyTypes: ['Ingress'] } })],
  ['ingress', (i) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: meta(`ing-${i}`), spec: { rules: [{ host: `h${i}.example.com` }] } })],
  ['endpoints', (i) => ({ apiVersion: 'v1', kind: 'Endpoints', metadata: meta(`ep-${i}`), subsets: [{ addresses: [{ ip: `10.200.${(i >> 8) & 255}.${i & 255}` }], ports: [{ port: 8080 }] }] })],
];
const CRD_KINDS: [string, Gen][] = Array.from({ length: CRDS }, (_, k): [string, Gen] => [
  `thing${k}`,
  (i) => ({ apiVersion: 'bench.tdr.io/v1', kind: `Thing${k}`, metadata: meta(`t${k}-${i}`), spec: { index: i, kind: k, text: `thing ${k} number ${i}`, flags: { a: true, b: i % 2 === 0 } } }),
]);
const KINDS = [...BUILT_INS, ...CRD_KINDS];

/** Objects of kind k in a namespace of `total` objects (spread evenly; the first kinds get the remainder). */
const countOf = (k: number, total: number) => Math.floor(total / KINDS.length) + (k < total % KINDS.length ? 1 : 0);

function crdManifests(): string {
  return Array.from({ length: CRDS }, (_, k) =>
    JSON.stringify({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `thing${k}s.bench.tdr.io`, labels: { 'bench.tdr.io/b6': 'true' } },
      spec: {
        group: 'bench.tdr.io',
        scope: 'Namespaced',
        names: { plural: `thing${k}s`, singular: `thing${k}`, kind: `Thing${k}`, listKind: `Thing${k}List` },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
      },
    }),
  ).join('\n---\n');
}

interface OursOut {
  inProcessS: number;
  objects: number;
  kinds: number;
  followed: number;
  dangling: number;
  resourceTypes: number;
  heapUsedMiB: number;
  rssMiB: number;
}

export async function discoveryBench(ctx: BenchContext): Promise<void> {
  const total = Math.max(KINDS.length, Number(process.env.BENCH_DISCOVERY_OBJECTS ?? 100_000));
  const sizes = [Math.max(KINDS.length, Math.round(total / 10)), total];
  const stack = await startBenchStack(ctx, 'B6', 'discovery', 'TDR_BENCH_KEY_B6');
  const { work, kubectl, kubeconfig } = stack;
  const raw: Record<string, unknown> = { sizes, kinds: KINDS.length, concurrency: CONCURRENCY };
  ctx.raw.discovery = raw;
  const node = process.execPath;
  try {
    const dir = path.join(work, 'b6');
    mkdirSync(dir, { recursive: true });
    const crdFile = path.join(dir, 'crds.yaml');
    writeFileSync(crdFile, crdManifests());
    await run(...kubectl('source', 'apply', '--server-side', '--field-manager', 'bench', '-f', crdFile), { label: 'kubectl apply CRDs' });
    await run(...kubectl('source', 'wait', '--for', 'condition=Established', '--timeout', '120s', 'crd', '-l', 'bench.tdr.io/b6=true'), { label: 'kubectl wait CRDs' });

    const populate = async (from: number, to: number): Promise<void> => {
      const file = path.join(dir, `objects-${to}.jsonl`);
      const lines: string[] = [JSON.stringify({ w: 0, o: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } } })];
      KINDS.forEach(([, gen], k) => {
        for (let i = countOf(k, from); i < countOf(k, to); i++) lines.push(JSON.stringify({ w: 1, o: gen(i) }));
      });
      writeFileSync(file, lines.join('\n') + '\n');
      const req: RawApplyRequest = { kubeconfig, context: 'source', file, method: 'create', concurrency: 32, barrier: true, fieldManager: 'bench', retry404: true };
      const m = await run(node, [path.join(__dirname, 'apply-raw.js'), JSON.stringify(req)], { label: 'populate' });
      ctx.log(`B6: created ${lines.length - 1} objects (namespace now ${to}) in ${m.wallS.toFixed(1)} s (${((lines.length - 1) / m.wallS).toFixed(0)} obj/s) ${m.stdout.trim()}`);
    };

    const resources = (await run(...kubectl('source', 'api-resources', '--namespaced=true', '--verbs=list,get', '-o', 'name'))).stdout.trim().split('\n').filter(Boolean);
    raw.kubectlResources = resources;
    ctx.log(`B6: ${resources.length} namespaced listable resources on source (${KINDS.length} populated)`);
    const [kbin, kargs] = kubectl('source');
    const kubectlLoop = () =>
      run(
        'bash',
        ['-c', `ns="$1"; n="$2"; shift 2; cmd=("\${@:1:$n}"); shift "$n"; printf '%s\\n' "$@" | xargs -P ${CONCURRENCY} -I{} "\${cmd[@]}" get {} -n "$ns" -o json > /dev/null`, '_', NS, String(kargs.length + 1), kbin, ...kargs, ...resources],
        { label: 'kubectl get loop' },
      );
    const oursRun = (extra: string[] = []) =>
      run(node, [...extra, path.join(__dirname, 'discover-ours.js'), JSON.stringify({ context: 'source', namespace: NS })], { env: { TDR_KUBECONFIG: kubeconfig }, label: 'ours discover' });

    interface Stage { size: number; ours: Measured & { out: OursOut }; oursAll: number[]; base: Measured; baseAll: number[] }
    const stages: Stage[] = [];
    let have = 0;
    for (const size of sizes) {
      await populate(have, size);
      have = size;
      let ours: (Measured & { out: OursOut }) | undefined;
      let base: Measured | undefined;
      const oursAll: number[] = [];
      const baseAll: number[] = [];
      if (!stages.length) {
        // Warm-up, not timed: the API server's first lists of the new CRDs, kubectl's discovery cache, the page cache of node_modules.
        await kubectlLoop();
        await oursRun();
      }
      for (let r = 0; r < ctx.repeat; r++) {
        const b = await kubectlLoop();
        baseAll.push(b.wallS);
        if (!base || b.wallS < base.wallS) base = b;
        const m = await oursRun();
        const o = { ...m, out: JSON.parse(m.stdout.trim().split('\n').pop()!) as OursOut };
        oursAll.push(o.wallS);
        if (!ours || o.wallS < ours.wallS) ours = o;
        ctx.log(`B6 ${size} round ${r + 1}: kubectl loop ${b.wallS.toFixed(2)} s (${b.cpuS?.toFixed(1)} CPU-s), ours ${o.wallS.toFixed(2)} s (${o.out.objects} objects, in-process ${o.out.inProcessS.toFixed(2)} s, ${o.cpuS?.toFixed(1)} CPU-s, peak RSS ${o.rssMiB?.toFixed(0)} MiB, heap ${o.out.heapUsedMiB.toFixed(0)} MiB)`);
      }
      stages.push({ size, ours: ours!, oursAll, base: base!, baseAll });
    }
    if (process.env.BENCH_DISCOVERY_PROFILE) {
      const prof = process.env.BENCH_DISCOVERY_PROFILE === '1' ? path.join(work, 'profiles') : process.env.BENCH_DISCOVERY_PROFILE;
      mkdirSync(prof, { recursive: true });
      await oursRun(['--cpu-prof', '--cpu-prof-dir', prof]);
      await oursRun(['--heap-prof', '--heap-prof-dir', prof]);
      ctx.log(`B6: profiles in ${prof}`);
    }

    raw.stages = stages.map((s) => ({ size: s.size, ours: { wallS: s.ours.wallS, cpuS: s.ours.cpuS, rssMiB: s.ours.rssMiB, out: s.ours.out, all: s.oursAll }, kubectl: { wallS: s.base.wallS, cpuS: s.base.cpuS, rssMiB: s.base.rssMiB, all: s.baseAll } }));
    for (const s of stages) {
      ctx.table.add({
        id: `B6.${s.size}`,
        name: `Discovery of a namespace with ${s.size} objects over ${KINDS.length} kinds (${s.ours.out.resourceTypes} types served)`,
        ours: s.ours.wallS,
        baseline: s.base.wallS,
        baselineName: `kubectl get -o json loop (${resources.length} kinds, ${CONCURRENCY} at a time)`,
        unit: 's',
        better: 'lower',
        note: `ours found ${s.ours.out.objects} objects (${s.ours.out.kinds} kinds, ${s.ours.out.dangling} dangling refs), in-process ${fmt(s.ours.out.inProcessS, 's')} s, heap ${s.ours.out.heapUsedMiB.toFixed(0)} MiB; best of ${ctx.repeat}; goal ≤ 0.5× and < 10 s`,
        oursCost: { cpuS: s.ours.cpuS, rssMiB: s.ours.rssMiB },
        baselineCost: { cpuS: s.base.cpuS, rssMiB: s.base.rssMiB },
      });
    }
    const [small, large] = [stages[0]!, stages[stages.length - 1]!];
    ctx.table.add({
      id: 'B6.rss',
      name: `  our discovery's peak RSS at ${large.size} vs at ${small.size} objects (flat = 1.0×)`,
      ours: large.ours.rssMiB ?? NaN,
      baseline: small.ours.rssMiB ?? NaN,
      baselineName: `ours at ${small.size}`,
      unit: 'MiB',
      better: 'lower',
      note: `kubectl's largest process: ${large.base.rssMiB?.toFixed(0)} vs ${small.base.rssMiB?.toFixed(0)} MiB`,
    });
    ctx.table.say(
      `B6: discovery of ${stages.map((s) => `${s.size} objects ${fmt(s.ours.wallS, 's')} s (kubectl loop ${fmt(s.base.wallS, 's')} s, peak RSS ${s.ours.rssMiB?.toFixed(0)} MiB)`).join('; ')}.`,
    );
  } finally {
    await stack.close();
  }
}
