/**
 * A fault-injecting proxy on loopback in front of an S3 server (MinIO), for fault tests. Requests
 * and responses pass through unchanged (the Host header too, so SigV4 signatures still verify),
 * except that one request in `oneIn` is answered with a 500 InternalError or a 503 SlowDown
 * instead of reaching the server, and `down()` makes the endpoint refuse connections until `up()`,
 * as a stopped server does. Faults are drawn from a seeded generator so a failing run can be
 * repeated with the seed it printed.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface FaultProxy {
  endpoint: string;
  /** Injected request faults by class: `500 InternalError`, `503 SlowDown`. */
  injected: Map<string, number>;
  requests: number;
  setOneIn(n: number | undefined): void;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

/** mulberry32: a small seeded generator (the faults need to be repeatable, not secure). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FAULTS = [
  { status: 500, code: 'InternalError', message: 'We encountered an internal error. Please try again.' },
  { status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' },
];

export async function startFaultProxy(upstream: string, opts: { seed: number; oneIn?: number }): Promise<FaultProxy> {
  const target = new URL(upstream);
  const random = seededRandom(opts.seed);
  let oneIn = opts.oneIn;
  const sockets = new Set<Socket>();
  const injected = new Map<string, number>();
  const count = (what: string) => injected.set(what, (injected.get(what) ?? 0) + 1);
  const proxy: FaultProxy = {
    endpoint: '',
    injected,
    requests: 0,
    setOneIn: (n) => (oneIn = n),
    down: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()).closeAllConnections());
      for (const s of sockets) s.destroy();
    },
    up: () => listen(port),
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()).closeAllConnections());
      for (const s of sockets) s.destroy();
    },
  };

  const server = http.createServer((req, res) => {
    proxy.requests++;
    if (oneIn && random() < 1 / oneIn) {
      const fault = FAULTS[Math.floor(random() * FAULTS.length)];
      count(`${fault.status} ${fault.code}`);
      req.resume();
      req.on('end', () => {
        res.writeHead(fault.status, { 'content-type': 'application/xml', ...(fault.status === 503 ? { 'retry-after': '1' } : {}) });
        res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${fault.code}</Code><Message>${fault.message}</Message><Resource>${req.url}</Resource></Error>`);
      });
      return;
    }
    const forward = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  const listen = (p: number) => new Promise<void>((resolve, reject) => server.once('error', reject).listen(p, '127.0.0.1', () => resolve()));
  await listen(0);
  const port = (server.address() as AddressInfo).port;
  proxy.endpoint = `http://127.0.0.1:${port}`;
  return proxy;
}
