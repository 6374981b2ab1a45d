/**
 * Temporal payloads are ciphertext on the server (config/payload-codec.ts): the whole test run's
 * clients and workers encrypt with TDR_PAYLOAD_KEYS. Only a holder of the key reads them: through
 * its client, or in the Temporal UI through `drctl codec-server`.
 */
import { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { checkStore } from '../../workflows';
import { generatePayloadKeys } from '../../config/payload-codec';
import { attachTestEnv, startOrchestratorWorker, uniqueId } from '../harness/temporal';
import { freshStore } from '../harness/store';
import { startCodecServer, type TestProcess } from '../harness/processes';
import { visitRunInTemporalUi } from '../harness/temporal-ui';

const codecUrl = () => `http://127.0.0.1:${process.env.TDR_CODEC_PORT}`;
const post = (op: string, body: unknown, origin = process.env.TDR_TEMPORAL_UI!) =>
  fetch(`${codecUrl()}/${op}`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Namespace': 'default', Origin: origin }, body: JSON.stringify(body) });
const b64 = (b?: Uint8Array | null) => Buffer.from(b ?? []).toString('base64');
const text = (b?: Uint8Array | null) => Buffer.from(b ?? []).toString('utf8');

describe('payload encryption and the codec server', () => {
  let env: TestWorkflowEnvironment;
  let codec: TestProcess | undefined;
  beforeAll(async () => {
    env = await attachTestEnv();
  });
  afterAll(async () => {
    await codec?.kill();
    await env?.teardown();
  });

  it('keeps plans, results and summaries encrypted in history; drctl codec-server decrypts them for the UI and no one else', async () => {
    const { ref } = await freshStore('codec');
    const bucketPath = `${ref.bucket}/codec`;
    const summary = `Object-store round trip on ${bucketPath}`;
    const w = await startOrchestratorWorker(env);
    let workflowId = '';
    let runId = '';
    try {
      workflowId = uniqueId('store-check');
      const handle = await env.client.workflow.start(checkStore, { taskQueue: w.taskQueue, workflowId, args: [{ store: ref, sizeBytes: 1024 }], staticSummary: summary });
      runId = handle.firstExecutionRunId;
      // The key holder (this run's client) reads the result and the summary.
      expect((await handle.result()).location).toBe(`s3://${bucketPath}`);
      expect(await (await handle.describe()).staticSummary()).toBe(summary);
    } finally {
      await w.stop();
    }

    // What the server stores, read by a client without the key: ciphertext naming its key, nothing in clear.
    const raw = new Client({ connection: env.connection }).workflow.getHandle(workflowId, runId);
    const history = await raw.fetchHistory();
    const started = history.events![0]!.workflowExecutionStartedEventAttributes!;
    const input = started.input!.payloads![0]!;
    expect([text(input.metadata!.encoding), text(input.metadata!['encryption-key-id'])]).toEqual(['binary/encrypted', 'test-k1']);
    const completed = history.events!.find((e) => e.workflowExecutionCompletedEventAttributes)!.workflowExecutionCompletedEventAttributes!.result!.payloads![0]!;
    expect(text(completed.metadata!.encoding)).toBe('binary/encrypted');
    const everything = Buffer.from(temporal.api.history.v1.History.encode(history).finish()).toString('latin1');
    expect(everything).not.toContain(bucketPath);
    expect(everything).not.toContain('Object-store round trip');
    await expect(raw.result()).rejects.toThrow(/encoding/i);

    // The UI without the codec server: the summary does not show.
    const query = `WorkflowId = '${workflowId}'`;
    const blind = await visitRunInTemporalUi({ name: 'codec-off', query, workflowId, runId, expectInList: [workflowId], expectOnRun: [summary], runTimeoutMs: 15_000 });
    expect(blind.listText).toContain(workflowId); // search attributes and ids are not payloads: filtering works without the key
    expect(blind.runText).not.toContain(summary);

    // A codec server with another key cannot read it, and says which key it would need.
    codec = await startCodecServer({ TDR_PAYLOAD_KEYS: generatePayloadKeys('other') });
    const wrong = await post('decode', { payloads: [{ metadata: { encoding: b64(input.metadata!.encoding), 'encryption-key-id': b64(input.metadata!['encryption-key-id']) }, data: b64(input.data) }] });
    expect(wrong.status).toBe(400);
    expect(((await wrong.json()) as { message: string }).message).toMatch(/encrypted with key "test-k1", which TDR_PAYLOAD_KEYS does not hold \(it holds other\)/);
    await codec.kill();

    // The operator's codec server (the run's key): the UI shows the summary, the API returns the plan's store.
    codec = await startCodecServer();
    const seen = await visitRunInTemporalUi({ name: 'codec-on', query, workflowId, runId, expectInList: [workflowId], expectOnRun: [summary] });
    expect(seen.runText).toContain(summary);
    const decoded = await post('decode', { payloads: [{ metadata: { encoding: b64(input.metadata!.encoding), 'encryption-key-id': b64(input.metadata!['encryption-key-id']) }, data: b64(input.data) }] });
    expect(decoded.status).toBe(200);
    expect(decoded.headers.get('access-control-allow-origin')).toBe(process.env.TDR_TEMPORAL_UI);
    const [plain] = ((await decoded.json()) as { payloads: { metadata: Record<string, string>; data: string }[] }).payloads;
    expect(Buffer.from(plain!.metadata.encoding!, 'base64').toString()).toBe('json/plain');
    expect(JSON.parse(Buffer.from(plain!.data, 'base64').toString())).toMatchObject({ store: { bucket: ref.bucket, prefix: 'codec' }, sizeBytes: 1024 });
    // Another web page in the operator's browser may not use it.
    const foreign = await post('decode', { payloads: [] }, 'http://evil.example');
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
  }, 180_000);
});
