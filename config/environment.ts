import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { InvalidInputError } from '../shared/errors';

/**
 * Connection settings read from the environment, shared by the worker and drctl.
 * Every variable is documented in the README ("Configuration").
 */
const TemporalEnv = z.object({
  TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_TASK_QUEUE: z.string().default('temporal-dr'),
  TEMPORAL_TLS: z.enum(['true', 'false']).optional(),
  TEMPORAL_TLS_CA: z.string().optional(),
  TEMPORAL_TLS_CERT: z.string().optional(),
  TEMPORAL_TLS_KEY: z.string().optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().optional(),
  TEMPORAL_API_KEY: z.string().optional(),
});

const S3Env = z.object({
  S3_ENDPOINT: z.string().url({ message: 'expected a URL like http://127.0.0.1:9000' }).optional(),
  S3_BUCKET: z.string().min(3).default('temporal-dr'),
  S3_PREFIX: z.string().default(''),
  S3_REGION: z.string().default('us-east-1'),
  S3_FORCE_PATH_STYLE: z.enum(['true', 'false']).default('true'),
  AWS_ACCESS_KEY_ID: z.string().optional(),
  AWS_SECRET_ACCESS_KEY: z.string().optional(),
});

function parse<T extends z.ZodTypeAny>(schema: T, env: NodeJS.ProcessEnv): z.infer<T> {
  const r = schema.safeParse(env);
  if (!r.success) {
    throw new InvalidInputError(
      'invalid environment',
      r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
    );
  }
  return r.data;
}

export interface TemporalSettings {
  address: string;
  namespace: string;
  taskQueue: string;
  tls?: { serverNameOverride?: string; serverRootCACertificate?: Buffer; clientCertPair?: { crt: Buffer; key: Buffer } };
  apiKey?: string;
}

export function temporalSettings(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  const e = parse(TemporalEnv, env);
  const read = (file: string, variable: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new InvalidInputError(`${variable}: cannot read ${file} (${(err as Error).message}); set it to a PEM file path`);
    }
  };
  const wantTls = e.TEMPORAL_TLS === 'true' || !!e.TEMPORAL_TLS_CERT || !!e.TEMPORAL_TLS_CA || !!e.TEMPORAL_API_KEY;
  if (!!e.TEMPORAL_TLS_CERT !== !!e.TEMPORAL_TLS_KEY) {
    throw new InvalidInputError('TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together (mTLS client certificate and its key)');
  }
  return {
    address: e.TEMPORAL_ADDRESS,
    namespace: e.TEMPORAL_NAMESPACE,
    taskQueue: e.TEMPORAL_TASK_QUEUE,
    apiKey: e.TEMPORAL_API_KEY,
    tls: wantTls
      ? {
          serverNameOverride: e.TEMPORAL_TLS_SERVER_NAME,
          serverRootCACertificate: e.TEMPORAL_TLS_CA ? read(e.TEMPORAL_TLS_CA, 'TEMPORAL_TLS_CA') : undefined,
          clientCertPair:
            e.TEMPORAL_TLS_CERT && e.TEMPORAL_TLS_KEY
              ? { crt: read(e.TEMPORAL_TLS_CERT, 'TEMPORAL_TLS_CERT'), key: read(e.TEMPORAL_TLS_KEY, 'TEMPORAL_TLS_KEY') }
              : undefined,
        }
      : undefined,
  };
}

export interface S3Settings {
  endpoint?: string;
  bucket: string;
  prefix: string;
  region: string;
  forcePathStyle: boolean;
  accessKeyId?: string;
  secretAccessKey?: string;
}

export function s3Settings(env: NodeJS.ProcessEnv = process.env): S3Settings {
  const e = parse(S3Env, env);
  return {
    endpoint: e.S3_ENDPOINT,
    bucket: e.S3_BUCKET,
    prefix: e.S3_PREFIX.replace(/^\/+|\/+$/g, ''),
    region: e.S3_REGION,
    forcePathStyle: e.S3_FORCE_PATH_STYLE === 'true',
    accessKeyId: e.AWS_ACCESS_KEY_ID,
    secretAccessKey: e.AWS_SECRET_ACCESS_KEY,
  };
}
