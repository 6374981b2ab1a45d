import { volumeDirOnNode } from '../../../activities/volumes/resolve-path';

describe('volumeDirOnNode', () => {
  it('resolves a PV path under the host root, including the root /', () => {
    expect(volumeDirOnNode('/var/lib/vol/pv-1', '/')).toBe('/var/lib/vol/pv-1');
    expect(volumeDirOnNode('/var/lib/vol/pv-1', '/host')).toBe('/host/var/lib/vol/pv-1');
    expect(volumeDirOnNode('/a/../../etc', '/host')).toBe('/host/etc');
  });
  it('rejects relative paths with a clear error', () => {
    expect(() => volumeDirOnNode('vol/pv-1', '/')).toThrow(/not absolute/);
  });
});
