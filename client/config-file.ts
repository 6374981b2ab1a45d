import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { InvalidInputError } from '../shared/errors';
import { validate } from '../shared/validation-issues';

/**
 * drctl's connection defaults, read from `$DRCTL_CONFIG`, else `~/.config/drctl/config.yaml`
 * (absent is fine). Each field stands for the environment variable it names, and is used only
 * when that variable is unset: flags > environment > this file. Secrets (keys, credentials, API
 * keys) never go in it: it names the variables that hold them.
 */
const configSchema = z.strictObject({
  temporal: z
    .strictObject({
      address: z.string().min(1).optional(),
      namespace: z.string().min(1).optional(),
      taskQueue: z.string().min(1).optional(),
      tls: z.strictObject({ ca: z.string().optional(), cert: z.string().optional(), key: z.string().optional(), serverName: z.string().optional() }).optional(),
    })
    .optional(),
  store: z
    .strictObject({
      endpoint: z.url({ protocol: /^https?$/, error: 'expected a URL like http://127.0.0.1:9000' }).optional(),
      bucket: z.string().min(3).optional(),
      prefix: z.string().optional(),
      region: z.string().optional(),
      /** PEM file of the CA that signed an https endpoint's certificate (S3_CA_FILE). */
      caFile: z.string().min(1).optional(),
    })
    .optional(),
  /** The kubeconfig whose contexts plans name (TDR_KUBECONFIG). */
  kubeconfig: z.string().min(1).optional(),
});
export type DrctlConfig = z.output<typeof configSchema>;

/** The variable each field stands for. */
export function configToEnv(c: DrctlConfig): Record<string, string | undefined> {
  return {
    TEMPORAL_ADDRESS: c.temporal?.address,
    TEMPORAL_NAMESPACE: c.temporal?.namespace,
    TEMPORAL_TASK_QUEUE: c.temporal?.taskQueue,
    TEMPORAL_TLS_CA: c.temporal?.tls?.ca,
    TEMPORAL_TLS_CERT: c.temporal?.tls?.cert,
    TEMPORAL_TLS_KEY: c.temporal?.tls?.key,
    TEMPORAL_TLS_SERVER_NAME: c.temporal?.tls?.serverName,
    S3_ENDPOINT: c.store?.endpoint,
    S3_BUCKET: c.store?.bucket,
    S3_PREFIX: c.store?.prefix,
    S3_REGION: c.store?.region,
    S3_CA_FILE: c.store?.caFile,
    TDR_KUBECONFIG: c.kubeconfig,
  };
}

export const defaultConfigPath = (env: NodeJS.ProcessEnv = process.env): string =>
  env.DRCTL_CONFIG ?? path.join(env.XDG_CONFIG_HOME ?? path.join(os.homedir(), '.config'), 'drctl', 'config.yaml');

/** Parses a config file's text; errors name the file and the field. Pure. */
export function parseConfig(text: string, file: string): DrctlConfig {
  let data: unknown;
  try {
    data = YAML.parse(text) ?? {};
  } catch (err) {
    throw new InvalidInputError(`${file}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const r = validate(configSchema, data);
  if (!r.ok) throw new InvalidInputError(`${file}: invalid drctl config`, r.issues);
  return r.data;
}

/** Fills the variables the environment leaves unset from the config file, if there is one. Returns the file read. */
export function applyConfigFile(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = defaultConfigPath(env);
  if (!existsSync(file)) {
    if (env.DRCTL_CONFIG) throw new InvalidInputError(`DRCTL_CONFIG: ${file} does not exist; create it or unset DRCTL_CONFIG`);
    return undefined;
  }
  for (const [name, value] of Object.entries(configToEnv(parseConfig(readFileSync(file, 'utf8'), file)))) {
    if (value !== undefined && !env[name]) env[name] = value;
  }
  return file;
}
