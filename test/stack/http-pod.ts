// The web server of a pod annotated stack.temporal-dr.local/serve=http: it listens on the pod's
// IP (added to the loopback interface, so this machine answers for it) and the container's
// `http` port, and serves the keys of the ConfigMaps mounted in the container, read live from the
// API server (`/` is index.html). So a request through the API server's Service proxy
// (`/api/v1/namespaces/NS/services/web:80/proxy/`) reaches a "pod" and returns what the
// cluster's ConfigMap holds, as nginx serving that ConfigMap would.
import * as k8s from '@kubernetes/client-node';
import http from 'node:http';
import { execFileSync } from 'node:child_process';

export class HttpPod {
  private constructor(private readonly server: http.Server, readonly ip: string, readonly port: number) {}

  static async start(core: k8s.CoreV1Api, pod: k8s.V1Pod, log: (msg: string) => void): Promise<HttpPod | undefined> {
    const ip = pod.status?.podIP;
    if (!ip) return undefined;
    const container = pod.spec!.containers[0]!;
    const port = container.ports?.find((p) => p.name === 'http')?.containerPort ?? 80;
    addLoopbackAddress(ip);
    const namespace = pod.metadata!.namespace!;
    const configMaps = (container.volumeMounts ?? []).flatMap((m) => {
      const v = pod.spec!.volumes?.find((x) => x.name === m.name);
      return v?.configMap?.name ? [v.configMap.name] : [];
    });
    const server = http.createServer((req, res) => {
      const key = decodeURIComponent((req.url ?? '/').split('?')[0]!.replace(/^\/+/, '')) || 'index.html';
      void (async () => {
        for (const name of configMaps) {
          const cm = await core.readNamespacedConfigMap({ namespace, name }).catch(() => undefined);
          const body = cm?.data?.[key];
          if (body !== undefined) {
            res.writeHead(200, { 'content-type': key.endsWith('.html') ? 'text/html' : 'text/plain' }).end(body);
            return;
          }
        }
        res.writeHead(404, { 'content-type': 'text/plain' }).end(`${key} not found\n`);
      })().catch((e: Error) => res.writeHead(500).end(e.message));
    });
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, ip, resolve));
    log(`${namespace}/${pod.metadata!.name}: serving http on ${ip}:${port}`);
    return new HttpPod(server, ip, port);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    try {
      execFileSync('ip', ['addr', 'del', `${this.ip}/32`, 'dev', 'lo'], { stdio: 'ignore' });
    } catch { /* already gone */ }
  }
}

function addLoopbackAddress(ip: string): void {
  try {
    execFileSync('ip', ['addr', 'add', `${ip}/32`, 'dev', 'lo'], { stdio: 'pipe' });
  } catch (e) {
    const err = String((e as { stderr?: Buffer }).stderr ?? e);
    if (!/File exists|already assigned/.test(err)) throw new Error(`cannot add pod IP ${ip} to the loopback interface (the stack's HTTP pods need root and iproute2): ${err.trim()}`);
  }
}
