import { restoreKeyOf, restoreKeyRef } from '../../../shared/restore-request';
import { validatePlan } from '../../../shared/plan';

const plan = (keyFrom: Record<string, unknown>) =>
  validatePlan({
    apiVersion: 'temporal-dr/v1',
    kind: 'DRPlan',
    metadata: { name: 'shop' },
    spec: { source: { context: 'source' }, selector: { namespaces: ['shop'] }, store: { url: 's3://dr-bucket/shop', encryption: { keyFrom } } },
  });

describe('the key a restore request names', () => {
  it('keeps the variable for env keys, so workers of the previous release can read the request', () => {
    expect(restoreKeyOf(plan({ env: 'TDR_KEY' }), 'target')).toEqual({ keyEnv: 'TDR_KEY', key: { env: 'TDR_KEY' } });
  });

  it('reads a Secret key in the cluster the restore runs in', () => {
    const secret = { namespace: 'dr', name: 'repo-key', key: 'key' };
    expect(restoreKeyOf(plan({ secret }), 'target')).toEqual({ key: { secret, context: 'target' } });
  });

  it('prefers key, falls back to keyEnv (requests made before key), and names the run when neither is set', () => {
    expect(restoreKeyRef({ restoreId: 'r1', keyEnv: 'OLD', key: { env: 'NEW' } })).toEqual({ env: 'NEW' });
    expect(restoreKeyRef({ restoreId: 'r1', keyEnv: 'OLD' })).toEqual({ env: 'OLD' });
    expect(() => restoreKeyRef({ restoreId: 'r1' })).toThrow('restore r1: no repository key named (key or keyEnv)');
  });
});
