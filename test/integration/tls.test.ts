/**
 * TLS on the local stack, with certificates this test makes (test/harness/tls.ts): a second MinIO
 * serving https with a certificate from a private CA (trusted through S3_CA_FILE), and an mTLS
 * proxy in front of the run's Temporal dev server (trusted through TEMPORAL_TLS_CA, the client
 * authenticated with TEMPORAL_TLS_CERT/KEY). A real worker process, drctl and an in-test client
 * all connect with the product's own settings code.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { checkStore } from '../../workflows';
import { temporalSettings } from '../../config/environment';
import { connectClient } from '../../config/temporal-connection';
import { openClient } from '../../client/temporal-client';
import { ensureBucket, openStore } from '../../activities/store/open-store';
import { listAll } from '../../activities/store/object-store';
import { ClusterUnreachableError, InvalidInputError } from '../../shared/errors';
import type { StoreRef } from '../../shared/store-ref';
import { findBinaries, startMinio, stopServer, type MinioServer } from '../../scripts/stack/local-stack';
import { makeTestPki, minioCertsDir, startTlsProxy, type TestPki, type TlsProxy } from '../harness/tls';
import { startWorkerProcess, type TestProcess } from '../harness/processes';
import { installRuntime, uniqueId } from '../harness/temporal';

const DRCTL = path.join(__dirname, '../../dist/client/drctl.js');

function drctl(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [DRCTL, ...args], { env: { ...process.env, ...env }, timeout: 90_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('TLS to the object store with a private CA (S3_CA_FILE) and mTLS to Temporal (TEMPORAL_TLS_*)', () => {
  let pki: TestPki;
  let minioDir: string;
  let minio: MinioServer;
  let proxy: TlsProxy;
  let worker: TestProcess | undefined;
  const taskQueue = uniqueId('tls');
  const bucket = uniqueId('tls').toLowerCase();

  /** What an operator sets for mTLS to Temporal through the proxy. */
  const temporalTls = (): NodeJS.ProcessEnv => ({
    TEMPORAL_ADDRESS: proxy.address,
    TEMPORAL_TASK_QUEUE: taskQueue,
    TEMPORAL_TLS_CA: pki.caFile,
    TEMPORAL_TLS_CERT: pki.client.cert,
    TEMPORAL_TLS_KEY: pki.client.key,
    // Verified against the certificate's DNS:localhost: grpc-js would send an IP address as the TLS
    // server name (SNI), which Node warns about on stderr (DEP0123).
    TEMPORAL_TLS_SERVER_NAME: 'localhost',
  });
  const tlsStore = (prefix = 'tls'): StoreRef => ({ endpoint: minio.endpoint, bucket, prefix, region: 'us-east-1', forcePathStyle: true });
  /** The run's environment (store credentials, payload keys) plus `extra`, with S3_CA_FILE only when `extra` sets it. */
  const envWith = (extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv => ({ ...process.env, S3_CA_FILE: undefined, ...extra });
  /**
   * `drctl points list` on the TLS store's bucket: drctl opens the store itself. The store's failures
   * are checked through it, a real Node process like the worker and node agents: inside jest the
   * errors of Node's own modules come from another realm, and the AWS SDK re-wraps them without
   * their code.
   */
  const listPoints = (endpoint: string, env: NodeJS.ProcessEnv, args: string[] = []) =>
    drctl(['points', 'list', '--store', `s3://${bucket}/tls`, '--endpoint', endpoint, ...args], { TDR_ENCRYPTION_KEY: '', ...env });

  beforeAll(async () => {
    installRuntime();
    pki = makeTestPki();
    minioDir = path.join(pki.dir, 'minio');
    minio = await startMinio({
      bin: findBinaries().minio,
      dir: minioDir,
      name: 'minio-tls',
      dataDir: path.join(minioDir, 'data'),
      // The run's credentials, so the worker's default ones (AWS_ACCESS_KEY_ID) open it too.
      accessKeyId: process.env.AWS_ACCESS_KEY_ID!,
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY!,
      certsDir: minioCertsDir(pki),
    });
    proxy = await startTlsProxy({ upstream: process.env.TEMPORAL_ADDRESS!, server: pki.server, clientCa: pki.caFile });
    await ensureBucket(openStore(tlsStore(), envWith({ S3_CA_FILE: pki.caFile })));
  });

  afterAll(async () => {
    await worker?.kill();
    await proxy?.close();
    if (minioDir) await stopServer(minioDir, 'minio-tls');
    pki?.remove();
  });

  it('runs the store check through mTLS to Temporal, on a worker that trusts the store through S3_CA_FILE', async () => {
    expect(minio.endpoint).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    worker = startWorkerProcess(taskQueue, { ...temporalTls(), S3_CA_FILE: pki.caFile });
    const died = new Promise<never>((_, reject) =>
      worker!.child.once('exit', (code) => reject(new Error(`the worker exited (${code}) before the run ended:\n${worker!.log()}`))),
    );
    const dr = await openClient(envWith(temporalTls()));
    try {
      expect(dr.settings.tls?.clientCertPair).toBeDefined();
      const sizeBytes = 256 * 1024;
      const result = await Promise.race([
        dr.client.workflow.execute(checkStore, { taskQueue, workflowId: uniqueId('store-check-tls'), args: [{ store: tlsStore(), sizeBytes }] }),
        died,
      ]);
      // The activity compares the SHA-256 of what it read back with what it wrote and fails otherwise.
      expect(result).toEqual(expect.objectContaining({ location: `s3://${bucket}/tls`, bytes: sizeBytes, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) }));
      expect(await listAll(openStore(tlsStore(), envWith({ S3_CA_FILE: pki.caFile })), '')).toEqual([]);
    } finally {
      await dr.close();
    }
    expect(worker.log()).toContain(`polling task queue ${taskQueue} on ${proxy.address}`);

    // drctl: the same check through the proxy, and a read of the TLS store in drctl itself.
    const check = await drctl(['store', 'check', '--store', `s3://${bucket}/drctl`, '--endpoint', minio.endpoint, '--size', '4096'], temporalTls());
    expect({ code: check.code, stderr: check.stderr }).toEqual({ code: 0, stderr: '' });
    expect(check.stdout).toMatch(new RegExp(`ok: wrote and read back 4096 bytes at s3://${bucket}/drctl/probes/`));
    const list = await listPoints(minio.endpoint, { S3_CA_FILE: pki.caFile }, ['-o', 'json']);
    expect({ code: list.code, stdout: JSON.parse(list.stdout) }).toEqual({ code: 0, stdout: [] });
  });

  it('refuses a client without a client certificate, or with one another CA signed, and a client that trusts another CA refuses the server', async () => {
    const connect = (env: NodeJS.ProcessEnv) => connectClient(temporalSettings(env)).then(async (c) => (await c.close(), 'connected'), (e: unknown) => e);
    const refused = (err: unknown, why: string) => {
      expect(err).toBeInstanceOf(ClusterUnreachableError);
      expect((err as Error).message).toMatch(new RegExp(`^cannot reach the Temporal server at ${proxy.address} \\(namespace default\\): TLS handshake failed: ${why}`));
    };

    const seen = proxy.refusals.length;
    refused(
      await connect({ ...temporalTls(), TEMPORAL_TLS_CERT: undefined, TEMPORAL_TLS_KEY: undefined }),
      'tlsv13 alert certificate required \\(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED\\): the server requires a client certificate \\(mTLS\\); set TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY to PEM files of one it accepts$',
    );
    expect(proxy.refusals.slice(seen).join('\n')).toMatch(/peer did not return a certificate/);

    // A worker (the Temporal core's own TLS) says the same and exits with the "unreachable" code.
    const noCertWorker = startWorkerProcess(uniqueId('tls-no-cert'), { ...temporalTls(), TEMPORAL_TLS_CERT: '', TEMPORAL_TLS_KEY: '', S3_CA_FILE: pki.caFile });
    const exitCode = await new Promise<number | null>((resolve) => noCertWorker.child.once('exit', resolve));
    expect({ exitCode, log: noCertWorker.log() }).toEqual({
      exitCode: 6,
      log: expect.stringMatching(
        new RegExp(`^worker: cannot reach the Temporal server at ${proxy.address} \\(namespace default\\): TLS handshake failed: tlsv13 alert certificate required .*set TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY`, 'm'),
      ),
    });

    refused(
      await connect({ ...temporalTls(), TEMPORAL_TLS_CERT: pki.otherClient.cert, TEMPORAL_TLS_KEY: pki.otherClient.key }),
      // The proxy (Node) hangs up without an alert; a Temporal server sends "bad certificate".
      'the server closed the connection right after the TLS handshake: it did not accept the client certificate in TEMPORAL_TLS_CERT; use one signed by a CA the server trusts for clients$',
    );

    refused(
      await connect({ ...temporalTls(), TEMPORAL_TLS_CA: pki.otherCaFile }),
      "[\\w -]+ \\((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)\\): no trusted CA signed the server's certificate; set TEMPORAL_TLS_CA to a PEM file holding the CA that signed it$",
    );
  });

  it('fails on the TLS store without S3_CA_FILE, or with another CA in it, in one line saying to set S3_CA_FILE', async () => {
    for (const caFile of ['', pki.otherCaFile]) {
      const r = await listPoints(minio.endpoint, { S3_CA_FILE: caFile });
      expect({ code: r.code, stderr: r.stderr }).toEqual({
        code: 6,
        stderr: expect.stringMatching(
          new RegExp(
            `^drctl: TLS failed during LIST \\S+: the object store at ${minio.endpoint} presented a certificate no trusted CA signed \\(UNABLE_TO_VERIFY_LEAF_SIGNATURE\\)\\. ` +
              'Set S3_CA_FILE to a PEM file holding the CA that signed it, on the worker, the node agents and drctl \\(it adds to the CAs Node trusts\\)\n$',
          ),
        ),
      });
    }
  });

  it('names the host when the store certificate is for another one', async () => {
    // TLS with a certificate from the private CA for another host name, in front of the run's plain MinIO.
    const wrongHost = await startTlsProxy({ upstream: new URL(process.env.S3_ENDPOINT!).host, server: pki.wrongHost });
    try {
      const endpoint = `https://${wrongHost.address}`;
      const r = await listPoints(endpoint, { S3_CA_FILE: pki.caFile });
      expect({ code: r.code, stderr: r.stderr }).toEqual({
        code: 6,
        stderr: expect.stringMatching(
          new RegExp(
            `^drctl: TLS failed during LIST \\S+: the certificate of the object store at ${endpoint} does not name that host ` +
              `\\(ERR_TLS_CERT_ALTNAME_INVALID; it names DNS:${pki.wrongHost.otherHost.replace(/\./g, '\\.')}\\)\\. .*S3_CA_FILE only makes its CA trusted\n$`,
          ),
        ),
      });
    } finally {
      await wrongHost.close();
    }
  });

  it('names S3_CA_FILE when its file cannot be read or holds no certificate', async () => {
    expect(() => openStore(tlsStore(), envWith({ S3_CA_FILE: '/nonexistent/ca.pem' }))).toThrow(InvalidInputError);
    expect(() => openStore(tlsStore(), envWith({ S3_CA_FILE: '/nonexistent/ca.pem' }))).toThrow(
      /^S3_CA_FILE: cannot read \/nonexistent\/ca\.pem \(ENOENT\); set it to a readable PEM file/,
    );
    expect(() => openStore(tlsStore(), envWith({ S3_CA_FILE: pki.server.key }))).toThrow(/^S3_CA_FILE: .*server\.key holds no PEM certificate/);
    const r = await listPoints(minio.endpoint, { S3_CA_FILE: '/nonexistent/ca.pem' });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 2, stderr: expect.stringMatching(/^drctl: S3_CA_FILE: cannot read \/nonexistent\/ca\.pem \(ENOENT\); set it to a readable PEM file/) });
  });
});
