import { resolveHook } from '../../../shared/hook-presets';
import { planWithHooks } from './plan-helpers';
import { DEFAULT_MAX_HOLD_MS, HOOK_ACTIVITY_SLACK_MS, holdActivityTimeoutMs, maxHoldMs, stepActivityTimeoutMs } from '../../../shared/quiesce';

const hookOf = (yaml: string) => resolveHook(planWithHooks(`    - ${yaml}\n`)[0]);
const pods = 'podSelector: { namespace: shop, matchLabels: { app: db } }';

describe('quiesce timing comes from the hook, not from a workflow-wide default', () => {
  it('a two-hour hold gets an activity that lives for the hold plus both steps', () => {
    const hook = hookOf(`{ name: pg, preset: postgresql, maxHold: 2h, ${pods} }`);
    expect(maxHoldMs(hook)).toBe(2 * 3_600_000);
    // pg_backup_start and pg_backup_stop may take 5m each (the preset's step timeouts).
    expect(holdActivityTimeoutMs(hook, maxHoldMs(hook))).toBe(2 * 3_600_000 + 2 * 5 * 60_000 + HOOK_ACTIVITY_SLACK_MS);
  });

  it('maxHold: the hook, else its preset, else the backup default', () => {
    expect(maxHoldMs(hookOf(`{ name: f, preset: fsfreeze, presetOptions: { mountPath: /data }, ${pods} }`))).toBe(5 * 60_000);
    expect(maxHoldMs(hookOf(`{ name: m, preset: mysql, ${pods} }`))).toBe(15 * 60_000);
    expect(maxHoldMs(hookOf(`{ name: p, preset: postgresql, ${pods} }`))).toBe(DEFAULT_MAX_HOLD_MS);
    expect(maxHoldMs(hookOf(`{ name: p, preset: postgresql, ${pods} }`), 60_000)).toBe(60_000);
    expect(maxHoldMs(hookOf(`{ name: c, pre: { command: ['true'] }, maxHold: 90s, ${pods} }`), 60_000)).toBe(90_000);
  });

  it("a step's activity lives for the step's own timeout", () => {
    const hook = hookOf(`{ name: c, pre: { command: [sleep, '600'], timeout: 15m }, post: { command: ['true'] }, ${pods} }`);
    expect(stepActivityTimeoutMs(hook.pre)).toBe(15 * 60_000 + HOOK_ACTIVITY_SLACK_MS);
    expect(stepActivityTimeoutMs(hook.post)).toBe(30_000 + HOOK_ACTIVITY_SLACK_MS); // the default 30s
  });

  it('fsfreeze can name its program (e.g. busybox), keeping the preset steps', () => {
    const hook = hookOf(`{ name: f, preset: fsfreeze, presetOptions: { mountPath: /data, command: [busybox, fsfreeze] }, ${pods} }`);
    expect(hook.session).toBe(false);
    expect(hook.pre).toMatchObject({ command: ['busybox', 'fsfreeze', '-f', '/data'] });
    expect(hook.post).toMatchObject({ command: ['busybox', 'fsfreeze', '-u', '/data'] });
  });
});
