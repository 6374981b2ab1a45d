/**
 * A TCP relay on loopback to a server (the Temporal frontend, a kube-apiserver: TLS passes through
 * untouched), which a test cuts and restores as a network partition or a stopped server would look
 * from the client: `down()` drops every open connection and refuses new ones until `up()`.
 */
import net from 'node:net';
import { freePort } from '../stack/postgres';

export interface TcpRelay {
  /** host:port clients dial instead of the server's. */
  address: string;
  up(): Promise<void>;
  down(): Promise<void>;
}

export async function startTcpRelay(target: string): Promise<TcpRelay> {
  const at = target.lastIndexOf(':');
  const [host, port] = [target.slice(0, at).replace(/^\[|\]$/g, ''), Number(target.slice(at + 1))];
  const listenPort = await freePort();
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  const up = () =>
    new Promise<void>((resolve, reject) => {
      server = net.createServer((client) => {
        const upstream = net.connect(port, host);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('error', () => undefined).on('close', () => sockets.delete(s));
        }
        client.pipe(upstream).pipe(client);
      });
      server.once('error', reject).listen(listenPort, '127.0.0.1', resolve);
    });
  const down = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      if (!server?.listening) return resolve();
      server.close(() => resolve());
    });
  await up();
  return { address: `127.0.0.1:${listenPort}`, up, down };
}
