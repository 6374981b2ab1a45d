import { isIP } from 'node:net';
import tls from 'node:tls';
import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { ClusterUnreachableError } from '../shared/errors';
import type { TemporalSettings } from './environment';
import { UNTRUSTED_CERT_CODES } from './tls-errors';

async function unreachable(s: TemporalSettings, err: unknown): Promise<ClusterUnreachableError> {
  const at = `cannot reach the Temporal server at ${s.address} (namespace ${s.namespace})`;
  const handshake = s.tls ? await tlsHandshakeProblem(s) : undefined;
  if (handshake) return new ClusterUnreachableError(`${at}: TLS handshake failed: ${handshake}`, s.address);
  return new ClusterUnreachableError(
    `${at}: ${(err as Error).message.split('\n')[0]}. ` +
      'Set TEMPORAL_ADDRESS (drctl: or --temporal-address, or temporal.address in its config file) to a running frontend (host:port), or start the local stack with `npm run up`.',
    s.address,
  );
}

/** Client connection for drctl; fails with one clear line when the server is unreachable. */
export async function connectClient(s: TemporalSettings): Promise<Connection> {
  try {
    return await Connection.connect({ address: s.address, tls: s.tls, apiKey: s.apiKey, connectTimeout: '5s' });
  } catch (err) {
    throw await unreachable(s, err);
  }
}

/** Worker connection (Rust core). */
export async function connectWorker(s: TemporalSettings): Promise<NativeConnection> {
  try {
    return await NativeConnection.connect({ address: s.address, tls: s.tls, apiKey: s.apiKey });
  } catch (err) {
    throw await unreachable(s, err);
  }
}


/** What to do about a failed handshake, by the error's code. */
function tlsAdvice(code: string | undefined, err: Error & { cert?: { subjectaltname?: string } }, host: string): string {
  if (code && UNTRUSTED_CERT_CODES.has(code)) {
    return "no trusted CA signed the server's certificate; set TEMPORAL_TLS_CA to a PEM file holding the CA that signed it";
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `the server's certificate does not name ${host}${err.cert?.subjectaltname ? ` (it names ${err.cert.subjectaltname})` : ''}; connect by a name it has, or set TEMPORAL_TLS_SERVER_NAME to one`;
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return "the server's certificate is not valid now; it must be renewed (or this machine's clock is wrong)";
  }
  if (code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED') {
    return 'the server requires a client certificate (mTLS); set TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY to PEM files of one it accepts';
  }
  if (code === 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' || code === 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE' || code === 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN') {
    return 'the server refused the client certificate in TEMPORAL_TLS_CERT; use one signed by a CA the server trusts for clients';
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') {
    return 'the server does not speak TLS at this address; unset TEMPORAL_TLS, TEMPORAL_TLS_CA, TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY, or give the TLS port';
  }
  return 'check TEMPORAL_TLS_CA, TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY and TEMPORAL_TLS_SERVER_NAME';
}

/**
 * Why a TLS handshake with the server fails, found with a handshake of our own over the same
 * settings (the SDKs only say "Failed to connect before the deadline" or "transport error");
 * undefined when it succeeds or the server cannot be reached at all.
 */
function tlsHandshakeProblem(s: TemporalSettings): Promise<string | undefined> {
  const sep = s.address.lastIndexOf(':');
  const host = s.address.slice(0, sep).replace(/^\[|\]$/g, '');
  const port = Number(s.address.slice(sep + 1));
  if (sep < 0 || !port) return Promise.resolve(undefined);
  const name = s.tls?.serverNameOverride;
  return new Promise((resolve) => {
    const socket = tls.connect({
      host,
      port,
      ca: s.tls?.serverRootCACertificate,
      cert: s.tls?.clientCertPair?.crt,
      key: s.tls?.clientCertPair?.key,
      // SNI takes host names only.
      servername: name ?? (isIP(host) ? undefined : host),
      checkServerIdentity: name ? (_host, cert) => tls.checkServerIdentity(name, cert) : undefined,
      ALPNProtocols: ['h2'],
    });
    const done = (problem: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(problem);
    };
    const timer = setTimeout(() => done(undefined), 3000);
    socket.once('error', (err: Error & { code?: string; reason?: string }) => {
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOTFOUND' || err.code === 'ETIMEDOUT' || err.code === 'EHOSTUNREACH') return done(undefined);
      // OpenSSL's `message` is a multi-line dump; its `reason` is the words ("tlsv13 alert certificate required").
      done(`${err.reason ?? err.message}${err.code ? ` (${err.code})` : ''}: ${tlsAdvice(err.code, err, name ?? host)}`);
    });
    // With TLS 1.3 the server judges the client certificate after the client's handshake ends: its
    // refusal comes after it, as an alert or a bare close. A gRPC server speaks first (HTTP/2
    // SETTINGS), so data means the handshake was accepted.
    socket.once('secureConnect', () => {
      socket.once('data', () => done(undefined));
      socket.once('close', () =>
        done(
          'the server closed the connection right after the TLS handshake: ' +
            (s.tls?.clientCertPair
              ? 'it did not accept the client certificate in TEMPORAL_TLS_CERT; use one signed by a CA the server trusts for clients'
              : 'it may require a client certificate (mTLS); set TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY'),
        ),
      );
      socket.resume();
    });
  });
}
