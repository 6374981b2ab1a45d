import { decideVolumeAccess, locationProblem, parseClaim, type VolumeObjects } from '../../../activities/volumes/volume-access';
import type { VolumeLocation } from '../../../shared/volume-location';

const UID = '3f1c2b7a-0c0e-4e55-9a43-2f7c9c0f1a11';
const CLAIM_UID = '9d0e1f2a-3b4c-4d5e-8f60-718293a4b5c6';
const NODES = ['node-0', 'node-1'];

const loc = (over: Partial<VolumeLocation> = {}): VolumeLocation => ({ node: 'node-0', podUid: UID, pvName: 'pvc-data', claim: 'shop/data', ...over });

/** A pod on node-0 mounting shop/data, bound both ways to a CSI PV pvc-data. */
function objects(): Required<VolumeObjects> {
  return {
    pod: {
      metadata: { uid: UID, name: 'db-0', namespace: 'shop' },
      spec: { nodeName: 'node-0', volumes: [{ name: 'tmp' }, { name: 'data', persistentVolumeClaim: { claimName: 'data' } }] },
    },
    claim: { metadata: { uid: CLAIM_UID, name: 'data', namespace: 'shop' }, spec: { volumeName: 'pvc-data' } },
    pv: { metadata: { name: 'pvc-data' }, spec: { claimRef: { namespace: 'shop', name: 'data', uid: CLAIM_UID }, csi: { driver: 'disk.csi.example' } } },
  };
}

const hostPathPv = (path: string): VolumeObjects['pv'] => ({ metadata: { name: 'pvc-data' }, spec: { claimRef: { namespace: 'shop', name: 'data', uid: CLAIM_UID }, hostPath: { path } } });

const refusal = (l: VolumeLocation, o: VolumeObjects, nodes = NODES) => {
  const v = decideVolumeAccess(l, o, nodes);
  if (v.ok) throw new Error(`expected a refusal, got ${JSON.stringify(v.location)}`);
  return `${v.pod}: ${v.reason}`;
};

describe('decideVolumeAccess: a node agent acts only on a volume the API server confirms', () => {
  it('allows a CSI volume mounted by a pod on a node it serves, with no host path', () => {
    expect(decideVolumeAccess(loc(), objects(), NODES)).toEqual({ ok: true, location: loc() });
  });

  it('takes a hostPath or local PV\'s path from the PV, whether or not the task named it', () => {
    const o = { ...objects(), pv: hostPathPv('/var/lib/vol/pvc-data') };
    expect(decideVolumeAccess(loc(), o, NODES)).toEqual({ ok: true, location: loc({ hostPath: '/var/lib/vol/pvc-data' }) });
    expect(decideVolumeAccess(loc({ hostPath: '/var/lib/vol/pvc-data' }), o, NODES)).toEqual({ ok: true, location: loc({ hostPath: '/var/lib/vol/pvc-data' }) });
    const local = { ...objects(), pv: { metadata: { name: 'pvc-data' }, spec: { claimRef: { namespace: 'shop', name: 'data' }, local: { path: '/mnt/disks/ssd1' } } } };
    expect(decideVolumeAccess(loc(), local, NODES)).toEqual({ ok: true, location: loc({ hostPath: '/mnt/disks/ssd1' }) });
  });

  it('refuses a host path in the task that is not the PV\'s, and any host path for a PV that has none', () => {
    expect(refusal(loc({ hostPath: '/etc' }), { ...objects(), pv: hostPathPv('/var/lib/vol/pvc-data') })).toBe(
      'shop/db-0 (uid 3f1c2b7a-0c0e-4e55-9a43-2f7c9c0f1a11): the task names host path /etc, but PV pvc-data\'s path is /var/lib/vol/pvc-data',
    );
    expect(refusal(loc({ hostPath: '/var/lib/vol/pvc-data/../../../etc' }), { ...objects(), pv: hostPathPv('/var/lib/vol/pvc-data') })).toMatch(/names host path .*\/etc, but/);
    expect(refusal(loc({ hostPath: '/etc' }), objects())).toMatch(/the task names host path \/etc, but PV pvc-data has no host path \(a CSI volume of driver disk.csi.example\)$/);
    expect(refusal(loc({ hostPath: '' }), objects())).toMatch(/names host path , but PV pvc-data has no host path/);
  });

  it('refuses a node it does not serve, and a pod that runs elsewhere or nowhere', () => {
    expect(refusal(loc({ node: 'node-7' }), objects())).toBe(`uid ${UID}: node node-7 is not served by this agent (it serves node-0, node-1)`);
    const elsewhere = objects();
    elsewhere.pod.spec!.nodeName = 'node-1';
    // node-1 is served too: the task still lies about where the pod is
    expect(refusal(loc(), elsewhere)).toBe(`shop/db-0 (uid ${UID}): pod shop/db-0 (uid ${UID}) runs on node node-1, not on node node-0`);
    expect(refusal(loc({ node: 'node-1' }), elsewhere, ['node-0'])).toMatch(/node node-1 is not served by this agent \(it serves node-0\)/);
    const unscheduled = objects();
    delete unscheduled.pod.spec!.nodeName;
    expect(refusal(loc(), unscheduled)).toMatch(/pod shop\/db-0 .* is not scheduled to a node/);
  });

  it('refuses a pod that does not exist there, or is another pod than the uid names', () => {
    expect(refusal(loc(), { ...objects(), pod: undefined })).toMatch(new RegExp(`^uid ${UID}: no pod with uid ${UID} exists in namespace shop`));
    const other = objects();
    other.pod.metadata!.uid = '00000000-0000-4000-8000-000000000000';
    expect(refusal(loc(), other)).toMatch(/no pod with uid/);
    const otherNamespace = objects();
    otherNamespace.pod.metadata!.namespace = 'kube-system';
    expect(refusal(loc(), otherNamespace)).toMatch(/no pod with uid .* in namespace shop/);
  });

  it('refuses a claim the pod does not mount', () => {
    expect(refusal(loc({ claim: 'shop/other' }), objects())).toBe(`shop/db-0 (uid ${UID}): pod shop/db-0 (uid ${UID}) does not mount claim other (it mounts claims data)`);
    const none = objects();
    none.pod.spec!.volumes = [{ name: 'tmp' }];
    expect(refusal(loc(), none)).toMatch(/does not mount claim data \(it mounts no claim\)$/);
  });

  it('refuses a PV the claim is not bound to, and a binding only one side claims', () => {
    expect(refusal(loc({ pvName: 'pvc-other' }), objects())).toMatch(/claim shop\/data is bound to PV pvc-data, not to PV pvc-other$/);
    expect(refusal(loc(), { ...objects(), claim: { metadata: { name: 'data' }, spec: {} } })).toMatch(/claim shop\/data is not bound to a PV$/);
    expect(refusal(loc(), { ...objects(), claim: undefined })).toMatch(/claim shop\/data does not exist$/);
    expect(refusal(loc(), { ...objects(), pv: undefined })).toMatch(/PV pvc-data does not exist$/);
    // a claim can name any PV in spec.volumeName; the PV must name the claim back
    const stolen = objects();
    stolen.pv.spec!.claimRef = { namespace: 'billing', name: 'ledger', uid: 'aaaaaaaa-0000-4000-8000-000000000000' };
    expect(refusal(loc(), stolen)).toMatch(/PV pvc-data is not bound to claim shop\/data: its claimRef names billing\/ledger \(uid aaaaaaaa/);
    const recreated = objects();
    recreated.pv.spec!.claimRef!.uid = 'bbbbbbbb-0000-4000-8000-000000000000';
    expect(refusal(loc(), recreated)).toMatch(/its claimRef names shop\/data \(uid bbbbbbbb/);
    const released = objects();
    delete released.pv.spec!.claimRef;
    expect(refusal(loc(), released)).toMatch(/its claimRef names no claim$/);
  });

  it('refuses names that are not object names before anything is read', () => {
    expect(locationProblem(loc(), NODES)).toBeUndefined();
    expect(locationProblem(loc({ claim: 'data' }), NODES)).toBe('the claim "data" is not namespace/name');
    expect(locationProblem(loc({ claim: 'shop/../etc' }), NODES)).toMatch(/not namespace\/name/);
    expect(locationProblem(loc({ podUid: '../../etc' }), NODES)).toBe('the pod uid "../../etc" is not a UUID');
    expect(locationProblem(loc({ pvName: '../x' }), NODES)).toBe('the PV name "../x" is not a valid object name');
    expect(refusal(loc({ podUid: '../../etc' }), objects())).toMatch(/is not a UUID/);
    expect(parseClaim('shop/data')).toEqual({ namespace: 'shop', name: 'data' });
    expect(parseClaim('a/b/c')).toBeUndefined();
  });
});
