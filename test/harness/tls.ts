/**
 * Certificates and TLS endpoints for the TLS tests: a private CA made with the `openssl` CLI, the
 * certificates it signs, and a TLS-terminating (optionally mTLS) proxy on loopback in front of a
 * plain TCP server, which is how the tests put TLS in front of the Temporal dev server (it has no
 * TLS options of its own).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

export interface CertFiles {
  cert: string;
  key: string;
}

export interface TestPki {
  dir: string;
  /** The private CA (PEM file) that signs every certificate below. */
  caFile: string;
  /** For 127.0.0.1 and localhost (serverAuth). */
  server: CertFiles;
  /** For the TLS clients of an mTLS endpoint (clientAuth). */
  client: CertFiles;
  /** A server certificate from the private CA that names only `otherHost`. */
  wrongHost: CertFiles & { otherHost: string };
  /** An unrelated CA, for the negative cases, and a client certificate it signed. */
  otherCaFile: string;
  otherClient: CertFiles;
  /** Removes every file. */
  remove(): void;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as Error & { stderr?: Buffer };
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr?.toString().trim() || e.message}`);
  }
}

// P-256 keys: quick to make, and accepted by Node, MinIO (Go) and the Temporal core (rustls).
const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function makeCa(dir: string, name: string): { cert: string; key: string } {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  openssl(
    ['req', '-x509', ...KEY, '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=temporal-dr test ${name}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    dir,
  );
  return { cert, key };
}

function makeLeaf(dir: string, ca: { cert: string; key: string }, name: string, cn: string, extensions: string[]): CertFiles {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const ext = path.join(dir, `${name}.ext`);
  writeFileSync(ext, ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', ...extensions].join('\n') + '\n');
  openssl(['req', '-new', ...KEY, '-keyout', key, '-out', csr, '-subj', `/CN=${cn}`], dir);
  openssl(
    ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', `0x${randomBytes(8).toString('hex')}`,
      '-days', '2', '-sha256', '-extfile', ext, '-out', cert],
    dir,
  );
  return { cert, key };
}

/** A private CA with a server and a client certificate, and an unrelated CA, in a new temp dir. */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(path.join(process.env.TDR_TEST_STACK_DIR ?? os.tmpdir(), 'pki-'));
  const ca = makeCa(dir, 'ca');
  const other = makeCa(dir, 'other-ca');
  const otherHost = 'not-this-store.example';
  return {
    dir,
    caFile: ca.cert,
    server: makeLeaf(dir, ca, 'server', '127.0.0.1', ['extendedKeyUsage=serverAuth', 'subjectAltName=IP:127.0.0.1,DNS:localhost']),
    client: makeLeaf(dir, ca, 'client', 'temporal-dr-test-worker', ['extendedKeyUsage=clientAuth']),
    wrongHost: { ...makeLeaf(dir, ca, 'wrong-host', otherHost, ['extendedKeyUsage=serverAuth', `subjectAltName=DNS:${otherHost}`]), otherHost },
    otherCaFile: other.cert,
    otherClient: makeLeaf(dir, other, 'other-client', 'temporal-dr-test-stranger', ['extendedKeyUsage=clientAuth']),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A MinIO certs directory (`public.crt`, `private.key`) holding `server`. */
export function minioCertsDir(pki: TestPki, server: CertFiles = pki.server): string {
  const dir = path.join(pki.dir, `minio-certs-${path.basename(server.cert, '.crt')}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'public.crt'), readFileSync(server.cert));
  writeFileSync(path.join(dir, 'private.key'), readFileSync(server.key));
  return dir;
}

export interface TlsProxy {
  /** `127.0.0.1:<port>` */
  address: string;
  port: number;
  /** Why handshakes were refused (`tlsClientError` messages), oldest first. */
  refusals: string[];
  close(): Promise<void>;
}

/**
 * Terminates TLS on loopback and pipes each connection, in clear, to `upstream` (`host:port`).
 * With `clientCa` it is mTLS: a client must present a certificate that CA signed. ALPN offers h2
 * only, so gRPC clients speak HTTP/2 through it (the dev server takes h2c with prior knowledge).
 */
export async function startTlsProxy(opts: { upstream: string; server: CertFiles; clientCa?: string }): Promise<TlsProxy> {
  const [upHost, upPort] = [opts.upstream.slice(0, opts.upstream.lastIndexOf(':')), Number(opts.upstream.slice(opts.upstream.lastIndexOf(':') + 1))];
  const sockets = new Set<net.Socket>();
  const refusals: string[] = [];
  const server = tls.createServer(
    {
      key: readFileSync(opts.server.key),
      cert: readFileSync(opts.server.cert),
      ...(opts.clientCa ? { ca: readFileSync(opts.clientCa), requestCert: true, rejectUnauthorized: true } : {}),
      ALPNProtocols: ['h2'],
    },
    (clear) => {
      const up = net.connect(upPort, upHost);
      for (const s of [clear, up]) {
        sockets.add(s);
        s.once('close', () => sockets.delete(s));
      }
      clear.on('error', () => up.destroy());
      up.on('error', () => clear.destroy());
      clear.pipe(up).pipe(clear);
    },
  );
  server.on('tlsClientError', (err) => refusals.push(err.message));
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    address: `127.0.0.1:${port}`,
    port,
    refusals,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
