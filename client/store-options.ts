import { s3Settings } from '../config/environment';
import { InvalidInputError } from '../shared/errors';
import { parseStoreUrl, type KeyRef, type StoreRef } from '../shared/store-ref';
import { planKeyRef, planToStoreRef, type Plan } from '../shared/plan';
import { loadPlan } from './plan-source';

/** Builds a StoreRef from `--store s3://bucket/prefix` (or S3_BUCKET/S3_PREFIX) and S3_ENDPOINT. */
export function storeRefFromOptions(opts: { store?: string; endpoint?: string }, env = process.env): StoreRef {
  const s3 = s3Settings(env);
  let bucket = s3.bucket;
  let prefix = s3.prefix;
  if (opts.store) {
    const parsed = parseStoreUrl(opts.store);
    if (!parsed) throw new InvalidInputError(`--store: expected s3://bucket[/prefix], got "${opts.store}"`);
    ({ bucket, prefix } = parsed);
  }
  return { endpoint: opts.endpoint ?? s3.endpoint, bucket, prefix, region: s3.region, forcePathStyle: s3.forcePathStyle };
}

export interface StoreAndKeyOptions {
  store?: string;
  endpoint?: string;
  plan?: string;
  keyEnv?: string;
}

/**
 * The store and the key a command works on: `--store`/`--endpoint` when given, else the plan's
 * (`--plan`), else the environment; the key from `--key-env`, else the plan's (an env variable
 * or a Secret, read through the plan's source context), else TDR_ENCRYPTION_KEY.
 * `keyEnv` is the key's variable, undefined when the key is a Secret.
 */
export async function storeAndKeyFromOptions(opts: StoreAndKeyOptions, env = process.env): Promise<{ ref: StoreRef; key: KeyRef; keyEnv?: string; plan?: Plan }> {
  const plan = opts.plan ? await loadPlan(opts.plan) : undefined;
  const ref = plan && !opts.store ? planToStoreRef(plan) : storeRefFromOptions(opts, env);
  const key: KeyRef = opts.keyEnv ? { env: opts.keyEnv } : plan ? planKeyRef(plan) : { env: 'TDR_ENCRYPTION_KEY' };
  return { ref, key, ...('env' in key ? { keyEnv: key.env } : {}), ...(plan ? { plan } : {}) };
}

/** False when the key is an env variable that is not set here (commands then read unverified). */
export function keyAvailable(key: KeyRef, env = process.env): boolean {
  return !('env' in key) || !!env[key.env];
}
