import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { applyConfigFile, configToEnv, parseConfig } from '../../../client/config-file';

describe("drctl's config file", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'drctl-config-'));
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, 'temporal:\n  address: temporal.example:7233\n  namespace: dr\nstore:\n  endpoint: http://minio:9000\n  bucket: dr-points\n  caFile: /etc/dr/store-ca.pem\nkubeconfig: /etc/dr/kubeconfig\n');

  it('fills only what the environment leaves unset: flags (set into the environment first) > environment > file', () => {
    const env: NodeJS.ProcessEnv = { DRCTL_CONFIG: file, TEMPORAL_ADDRESS: 'from-env-or-flag:7233' };
    expect(applyConfigFile(env)).toBe(file);
    expect(env).toMatchObject({ TEMPORAL_ADDRESS: 'from-env-or-flag:7233', TEMPORAL_NAMESPACE: 'dr', S3_ENDPOINT: 'http://minio:9000', S3_BUCKET: 'dr-points', S3_CA_FILE: '/etc/dr/store-ca.pem', TDR_KUBECONFIG: '/etc/dr/kubeconfig' });
    expect(env.S3_PREFIX).toBeUndefined();
  });

  it('is optional at its default path, required when DRCTL_CONFIG names it', () => {
    expect(applyConfigFile({ XDG_CONFIG_HOME: path.join(dir, 'none') })).toBeUndefined();
    expect(() => applyConfigFile({ DRCTL_CONFIG: path.join(dir, 'missing.yaml') })).toThrow(/DRCTL_CONFIG: .*missing\.yaml does not exist; create it or unset DRCTL_CONFIG/);
  });

  it('names the file and the field of a mistake, and takes no secret', () => {
    expect(() => parseConfig('temporal:\n  adress: x\n', 'c.yaml')).toThrow(/^c\.yaml: invalid drctl config/);
    expect(() => parseConfig('temporal:\n  adress: x\n', 'c.yaml')).toThrow(expect.objectContaining({ issues: ['temporal.adress: unknown field (did you mean address?)'] }));
    expect(() => parseConfig('store:\n  endpoint: minio\n', 'c.yaml')).toThrow(expect.objectContaining({ issues: ['store.endpoint: expected a URL like http://127.0.0.1:9000'] }));
    expect(() => parseConfig('store:\n  secretAccessKey: s3cr3t\n', 'c.yaml')).toThrow(expect.objectContaining({ issues: ['store.secretAccessKey: unknown field (check the spelling; allowed here: bucket, caFile, endpoint, prefix, region)'] }));
    expect(() => parseConfig('temporal: [', 'c.yaml')).toThrow(/^c\.yaml: not valid YAML/);
    expect(configToEnv(parseConfig('', 'c.yaml'))).toEqual(expect.objectContaining({ TEMPORAL_ADDRESS: undefined }));
  });
});
