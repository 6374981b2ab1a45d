/**
 * `drctl codec-server`: the Temporal UI's remote codec. The UI posts a run's encrypted payloads to
 * /decode and shows what comes back, so an operator who runs this with the keys (TDR_PAYLOAD_KEYS)
 * reads plans, reports and summaries in clear, and anyone else sees ciphertext. It listens on
 * loopback and answers only the UI origins it is given: another page in the same browser cannot
 * use it to read payloads.
 */
import http from 'node:http';
import type { Command } from 'commander';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { EncryptionCodec, parsePayloadKeys } from '../../config/payload-codec';
import { InvalidInputError } from '../../shared/errors';
import { wholeNumber } from '../flags';

/** A payload as the codec protocol carries it: proto3 JSON, bytes as base64. */
interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const fromJson = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data ?? '', 'base64'),
});
const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')])),
  data: Buffer.from(p.data ?? []).toString('base64'),
});

export function createCodecServer(codec: PayloadCodec, allowedOrigins: string[]): http.Server {
  const origins = new Set(allowedOrigins.map((o) => o.replace(/\/+$/, '')));
  return http.createServer((req, res) => {
    const origin = req.headers.origin;
    const reply = (status: number, body?: unknown) => {
      res.writeHead(status, {
        ...(origin && origins.has(origin)
          ? { 'Access-Control-Allow-Origin': origin, 'Access-Control-Allow-Credentials': 'true', 'Access-Control-Allow-Methods': 'POST, OPTIONS', 'Access-Control-Allow-Headers': 'Content-Type, X-Namespace, Authorization', Vary: 'Origin' }
          : {}),
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      });
      res.end(body === undefined ? undefined : JSON.stringify(body));
    };
    if (origin && !origins.has(origin)) return reply(403, { message: `origin ${origin} may not use this codec server; start it with --ui-origin ${origin} to allow it` });
    if (req.method === 'OPTIONS') return reply(204);
    const op = req.url?.replace(/\?.*$/, '').replace(/\/+$/, '').split('/').at(-1);
    if (req.method !== 'POST' || (op !== 'encode' && op !== 'decode')) return reply(404, { message: 'POST /encode or /decode' });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: { payloads?: JsonPayload[] };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { payloads?: JsonPayload[] };
        if (!Array.isArray(body.payloads)) throw new Error('no payloads array');
      } catch (err) {
        return reply(400, { message: `expected {"payloads": [...]}: ${(err as Error).message}` });
      }
      const payloads = body.payloads.map(fromJson);
      (op === 'encode' ? codec.encode(payloads) : codec.decode(payloads)).then(
        (out) => reply(200, { payloads: out.map(toJson) }),
        (err: Error) => reply(400, { message: err.message }),
      );
    });
  });
}

export function registerCodecServerCommand(program: Command): void {
  program
    .command('codec-server')
    .description('serve the Temporal UI the payloads of runs decrypted with TDR_PAYLOAD_KEYS (its remote codec endpoint)')
    .option('--port <port>', 'port to listen on', wholeNumber(1), 8888)
    .option('--listen <address>', 'address to listen on (loopback: only this machine)', '127.0.0.1')
    .option('--ui-origin <url...>', 'origins of the Temporal UI allowed to call it (default $TDR_TEMPORAL_UI, else http://127.0.0.1:8233 and http://localhost:8233)')
    .action(async (opts: { port: number; listen: string; uiOrigin?: string[] }) => {
      const keys = parsePayloadKeys(process.env.TDR_PAYLOAD_KEYS);
      if (!keys) throw new InvalidInputError('TDR_PAYLOAD_KEYS is not set: the codec server decrypts with the keys the workers encrypt with; export the same value');
      const origins = opts.uiOrigin ?? (process.env.TDR_TEMPORAL_UI ? [process.env.TDR_TEMPORAL_UI] : ['http://127.0.0.1:8233', 'http://localhost:8233']);
      const server = createCodecServer(new EncryptionCodec(keys), origins);
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(opts.port, opts.listen, resolve));
      process.stderr.write(
        `codec server on http://${opts.listen}:${opts.port} for ${origins.join(', ')} (keys ${[...keys.keys.keys()].join(', ')}; encrypting with ${keys.current}).\n` +
          `In the Temporal UI: Settings (the codec icon) > Codec Server endpoint http://${opts.listen}:${opts.port}, or start the dev server with --ui-codec-endpoint.\n`,
      );
      await new Promise<void>((resolve) => {
        for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => server.close(() => resolve()));
      });
    });
}
