/**
 * loadKubeConfig makes client-node reuse one TLS connection per API server and credentials (it
 * would otherwise open one per request), and opens a new one when the client certificate changes.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { loadKubeConfig } from '../../../activities/kube/cluster';
import { makeTestPki, type TestPki } from '../../harness/tls';

let pki: TestPki;
let server: https.Server;
let handshakes = 0;

beforeAll(async () => {
  pki = makeTestPki();
  server = https.createServer(
    { cert: readFileSync(pki.server.cert), key: readFileSync(pki.server.key), ca: readFileSync(pki.caFile), requestCert: true, rejectUnauthorized: false },
    (_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ kind: 'NamespaceList', apiVersion: 'v1', metadata: {}, items: [] }));
    },
  );
  server.on('secureConnection', () => handshakes++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  pki.remove();
});

function kubeconfigFor(client: { cert: string; key: string }): k8s.KubeConfig {
  const { port } = server.address() as AddressInfo;
  const file = `${pki.dir}/kubeconfig.yaml`;
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `https://127.0.0.1:${port}`, caFile: pki.caFile }],
    users: [{ name: 'u', certFile: client.cert, keyFile: client.key }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
    currentContext: 'ctx',
  });
  writeFileSync(file, kc.exportConfig());
  return loadKubeConfig({ TDR_KUBECONFIG: file });
}

describe('loadKubeConfig', () => {
  // Without reuse each call is a handshake; undici may open a second connection while the first
  // is still being returned to its pool, so "reused" is at most 3 for 10 calls.
  it('sends many API calls over a few TLS connections, and opens new ones for new credentials', async () => {
    const kc = kubeconfigFor(pki.client);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const calls = async () => {
      const before = handshakes;
      for (let i = 0; i < 10; i++) await core.listNamespace();
      return handshakes - before;
    };
    const first = await calls();
    expect(first).toBeGreaterThanOrEqual(1);
    expect(first).toBeLessThanOrEqual(3);

    // The same kubeconfig, its user now with another client certificate (a rotation).
    kc.users[0] = { ...kc.users[0], certFile: pki.otherClient.cert, keyFile: pki.otherClient.key };
    const rotated = await calls();
    expect(rotated).toBeGreaterThanOrEqual(1);
    expect(rotated).toBeLessThanOrEqual(3);
  });
});
