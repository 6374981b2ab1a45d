/** Searching everything a run leaves behind for a secret value: histories, store objects, logs. */
import type { Client } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import type { ObjectStore } from '../../activities/store/object-store';
import { listAll } from '../../activities/store/object-store';
import { decodePayload } from './temporal';

const isPayload = (v: unknown): v is Payload => typeof v === 'object' && v !== null && (v as Payload).data instanceof Uint8Array && typeof (v as Payload).metadata === 'object';

/** Every string and byte array in a value (bytes as latin1, so any byte sequence can be searched), and every payload in it. */
function collect(value: unknown, texts: string[], payloads: Payload[]): void {
  if (typeof value === 'string') texts.push(value);
  else if (value instanceof Uint8Array) texts.push(Buffer.from(value).toString('latin1'));
  else if (Array.isArray(value)) for (const v of value) collect(v, texts, payloads);
  else if (typeof value === 'object' && value !== null) {
    if (isPayload(value)) payloads.push(value);
    for (const v of Object.values(value)) collect(v, texts, payloads);
  }
}

/**
 * The histories of every run matching a visibility query, as the server stores them (`raw`: every
 * string and byte, payloads still encrypted) and as an operator with the key sees them through the
 * codec (`decoded`: every payload decoded to JSON).
 */
export async function historiesAsText(client: Client, query: string): Promise<{ runs: string[]; raw: string; decoded: string }> {
  const runs: string[] = [];
  const raw: string[] = [];
  const decoded: string[] = [];
  for await (const run of client.workflow.list({ query })) {
    runs.push(run.workflowId);
    const history = await client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
    const payloads: Payload[] = [];
    collect(history, raw, payloads);
    for (const p of payloads) decoded.push(JSON.stringify(await decodePayload(p)));
  }
  return { runs, raw: raw.join('\n'), decoded: decoded.join('\n') };
}

/** Every object of a store, bodies as latin1 text. */
export async function storeAsText(store: ObjectStore): Promise<{ objects: number; text: string }> {
  const keys = await listAll(store, '');
  const bodies = await Promise.all(keys.map(async (o) => `${o.key}\n${(await store.get(o.key))?.toString('latin1') ?? ''}`));
  return { objects: keys.length, text: bodies.join('\n') };
}

/** The places (by name) where `secret` appears as is or base64-encoded. */
export function placesHolding(secret: Buffer, places: Record<string, string>): string[] {
  const forms = [secret.toString('latin1'), secret.toString('base64')];
  return Object.entries(places)
    .filter(([, text]) => forms.some((f) => text.includes(f)))
    .map(([name]) => name);
}
