import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { ClusterUnreachableError } from '../shared/errors';
import type { TemporalSettings } from './environment';

function unreachable(s: TemporalSettings, err: unknown): ClusterUnreachableError {
  return new ClusterUnreachableError(
    `cannot reach the Temporal server at ${s.address} (namespace ${s.namespace}): ${(err as Error).message.split('\n')[0]}. ` +
      'Set TEMPORAL_ADDRESS (drctl: or --temporal-address, or temporal.address in its config file) to a running frontend (host:port), or start the local stack with `npm run up`.',
    s.address,
  );
}

/** Client connection for drctl; fails with one clear line when the server is unreachable. */
export async function connectClient(s: TemporalSettings): Promise<Connection> {
  try {
    return await Connection.connect({ address: s.address, tls: s.tls, apiKey: s.apiKey, connectTimeout: '5s' });
  } catch (err) {
    throw unreachable(s, err);
  }
}

/** Worker connection (Rust core). */
export async function connectWorker(s: TemporalSettings): Promise<NativeConnection> {
  try {
    return await NativeConnection.connect({ address: s.address, tls: s.tls, apiKey: s.apiKey });
  } catch (err) {
    throw unreachable(s, err);
  }
}
