import { Client } from '@temporalio/client';
import { temporalSettings, type TemporalSettings } from '../config/environment';
import { connectClient } from '../config/temporal-connection';
import { payloadDataConverter } from '../config/payload-codec';

export interface DrClient {
  client: Client;
  settings: TemporalSettings;
  close(): Promise<void>;
}

/** A Temporal client configured from the environment (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS). */
export async function openClient(env: NodeJS.ProcessEnv = process.env): Promise<DrClient> {
  const settings = temporalSettings(env);
  const connection = await connectClient(settings);
  const client = new Client({ connection, namespace: settings.namespace, dataConverter: payloadDataConverter(env) });
  return { client, settings, close: () => connection.close() };
}
