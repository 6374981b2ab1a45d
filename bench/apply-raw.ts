/**
 * Raw parallel writes to a Kubernetes API server, no logic: the measured ceiling of B7 and the fast
 * populator of B6/B7 (populating is not timed). One keep-alive HTTPS agent, `concurrency` requests
 * in flight; 429/5xx (and, with retry404, 404 while a new CRD's kind is not served yet) are retried.
 *
 *   node dist/bench/apply-raw.js '<json RawApplyRequest>'
 * The file holds one JSON line per object: {"w": wave, "o": object}. Waves run in order; with
 * `barrier: false` only wave 0 (e.g. the Namespace) is applied first, the rest together.
 * Prints one line of JSON: {objects, inProcessS, retries}.
 */
import https from 'node:https';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { runChild } from './child';

export interface RawApplyRequest {
  kubeconfig: string;
  context: string;
  file: string;
  /** apply: PATCH application/apply-patch+yaml (server-side apply, force); create: POST, 409 ignored. */
  method: 'apply' | 'create';
  concurrency: number;
  barrier: boolean;
  fieldManager?: string;
  retry404?: boolean;
}

export type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; [k: string]: unknown }; [k: string]: unknown };

/** Plural resource name of the kinds the benches use (built-ins and the generated CRDs). */
export function pluralOf(kind: string): string {
  const l = kind.toLowerCase();
  if (l === 'endpoints') return l;
  if (l.endsWith('s')) return `${l}es`;
  if (l.endsWith('y')) return `${l.slice(0, -1)}ies`;
  return `${l}s`;
}

export function collectionPath(o: Obj): string {
  const base = o.apiVersion === 'v1' ? '/api/v1' : `/apis/${o.apiVersion}`;
  const ns = o.metadata.namespace ? `/namespaces/${o.metadata.namespace}` : '';
  return `${base}${ns}/${pluralOf(o.kind)}`;
}

async function main(): Promise<unknown> {
  const req = JSON.parse(process.argv[2] ?? '{}') as RawApplyRequest;
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(req.kubeconfig);
  kc.setCurrentContext(req.context);
  const server = new URL(kc.getCurrentCluster()!.server);
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const isHttps = server.protocol === 'https:';
  const agent = isHttps
    ? new https.Agent({ keepAlive: true, maxSockets: req.concurrency, ca: opts.ca, cert: opts.cert, key: opts.key, rejectUnauthorized: opts.rejectUnauthorized })
    : new http.Agent({ keepAlive: true, maxSockets: req.concurrency });
  const headers = (opts.headers ?? {}) as Record<string, string>;
  const fm = encodeURIComponent(req.fieldManager ?? 'bench-raw');

  const waves: Obj[][] = [];
  for (const line of readFileSync(req.file, 'utf8').split('\n')) {
    if (!line) continue;
    const { w, o } = JSON.parse(line) as { w: number; o: Obj };
    (waves[w] ??= []).push(o);
  }
  const groups = req.barrier ? waves.filter(Boolean) : [waves[0] ?? [], waves.slice(1).flatMap((w) => w ?? [])];

  let retries = 0;
  const send = (method: string, p: string, body: string, contentType: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const r = (isHttps ? https : http).request(
        { method, host: server.hostname, port: server.port, path: p, agent, headers: { ...headers, 'content-type': contentType, accept: 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      r.on('error', reject);
      r.end(body);
    });
  const one = async (o: Obj) => {
    const body = JSON.stringify(o);
    const coll = collectionPath(o);
    for (let attempt = 0; ; attempt++) {
      const res =
        req.method === 'apply'
          ? await send('PATCH', `${coll}/${encodeURIComponent(o.metadata.name)}?fieldManager=${fm}&force=true`, body, 'application/apply-patch+yaml')
          : await send('POST', `${coll}?fieldManager=${fm}`, body, 'application/json');
      if (res.status < 300 || (req.method === 'create' && res.status === 409)) return;
      const transient = res.status === 429 || res.status >= 500 || (req.retry404 && res.status === 404);
      if (!transient || attempt > 60) throw new Error(`${req.method} ${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}: HTTP ${res.status} ${res.body.slice(0, 500)}`);
      retries++;
      await new Promise((r) => setTimeout(r, Math.min(2000, 50 * 2 ** Math.min(attempt, 6))));
    }
  };
  const t0 = process.hrtime.bigint();
  let n = 0;
  for (const g of groups) {
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(req.concurrency, g.length) }, async () => {
        while (next < g.length) {
          const o = g[next++]!;
          await one(o);
          n++;
        }
      }),
    );
  }
  agent.destroy();
  return { objects: n, inProcessS: Number(process.hrtime.bigint() - t0) / 1e9, retries };
}

if (require.main === module) {
  runChild(main);
}
