/**
 * Whether a node agent may act on the volume a task names: a pure decision over the pod, claim
 * and PV the agent read from the Kubernetes API itself. The task's location is only a question
 * ("this pod on this node mounts this claim, bound to this PV"); every part of it must agree with
 * the API objects, and a host path is taken from the PV, never from the task.
 * Free of I/O so it can be tested with plain objects.
 */
import { POD_UID, PV_NAME, type VolumeLocation } from '../../shared/volume-location';

/** The parts of a Pod the decision reads (a V1Pod fits). */
export interface PodFacts {
  metadata?: { uid?: string; name?: string; namespace?: string };
  spec?: { nodeName?: string; volumes?: { name?: string; persistentVolumeClaim?: { claimName?: string } }[] };
}

/** The parts of a PersistentVolumeClaim the decision reads (a V1PersistentVolumeClaim fits). */
export interface ClaimFacts {
  metadata?: { uid?: string; name?: string; namespace?: string };
  spec?: { volumeName?: string };
}

/** The parts of a PersistentVolume the decision reads (a V1PersistentVolume fits). */
export interface VolumeFacts {
  metadata?: { name?: string };
  spec?: {
    claimRef?: { namespace?: string; name?: string; uid?: string };
    hostPath?: { path?: string };
    local?: { path?: string };
    csi?: { driver?: string };
  };
}

/** What the agent found through the API; `undefined` where the object does not exist. */
export interface VolumeObjects {
  pod?: PodFacts;
  claim?: ClaimFacts;
  pv?: VolumeFacts;
}

export type VolumeVerdict =
  | {
      ok: true;
      /** The location to act on: the task's, with the host path replaced by the PV's own (or none). */
      location: VolumeLocation;
    }
  | {
      ok: false;
      /** The pod as the message names it: `namespace/name (uid)` once found, else its uid. */
      pod: string;
      /** Why, naming the object that disagrees. */
      reason: string;
    };

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const OBJECT_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** `namespace/name` of a claim, or undefined when `claim` is not that. */
export function parseClaim(claim: string): { namespace: string; name: string } | undefined {
  const parts = claim.split('/');
  if (parts.length !== 2 || !DNS_LABEL.test(parts[0]) || !OBJECT_NAME.test(parts[1])) return undefined;
  return { namespace: parts[0], name: parts[1] };
}

/** The host path of a hostPath or local PV; undefined for every other kind (CSI, NFS, ...). */
export const pvHostPath = (pv: VolumeFacts): string | undefined => pv.spec?.hostPath?.path ?? pv.spec?.local?.path;

const pvKind = (pv: VolumeFacts): string => (pv.spec?.csi ? `a CSI volume of driver ${pv.spec.csi.driver ?? '?'}` : 'not a hostPath or local volume');

/**
 * What is wrong with the location itself, before any object is read: names that are not object
 * names, or a node this agent does not serve. Undefined when nothing is.
 */
export function locationProblem(loc: VolumeLocation, agentNodes: readonly string[]): string | undefined {
  if (!parseClaim(loc.claim)) return `the claim "${loc.claim}" is not namespace/name`;
  if (!POD_UID.test(loc.podUid)) return `the pod uid "${loc.podUid}" is not a UUID`;
  if (!PV_NAME.test(loc.pvName)) return `the PV name "${loc.pvName}" is not a valid object name`;
  if (!agentNodes.includes(loc.node)) return `node ${loc.node} is not served by this agent (it serves ${agentNodes.join(', ') || 'no node'})`;
  return undefined;
}

/**
 * Decides whether an agent serving `agentNodes` may act on `loc`, given the objects it read:
 * the pod with uid `loc.podUid` in the claim's namespace, the claim, and the PV `loc.pvName`.
 * Checks, in order: the claim names `namespace/name`; `loc.node` is served here; the pod exists,
 * runs on `loc.node` and mounts the claim; the claim is bound to `loc.pvName` and that PV's
 * claimRef names the claim back (a claim can name any PV in spec.volumeName, only a PV bound to
 * it proves the binding); a host path in the task equals the PV's.
 */
export function decideVolumeAccess(loc: VolumeLocation, objects: VolumeObjects, agentNodes: readonly string[]): VolumeVerdict {
  let pod = `uid ${loc.podUid}`;
  const refuse = (reason: string): VolumeVerdict => ({ ok: false, pod, reason });
  const problem = locationProblem(loc, agentNodes);
  if (problem) return refuse(problem);
  const claimRef = parseClaim(loc.claim)!;

  const p = objects.pod;
  if (!p || p.metadata?.uid !== loc.podUid || (p.metadata?.namespace !== undefined && p.metadata.namespace !== claimRef.namespace)) {
    return refuse(`no pod with uid ${loc.podUid} exists in namespace ${claimRef.namespace} (deleted or replaced since the run located the volume, or never there)`);
  }
  pod = `${claimRef.namespace}/${p.metadata?.name ?? '?'} (uid ${loc.podUid})`;
  const podNode = p.spec?.nodeName;
  if (!podNode) return refuse(`pod ${pod} is not scheduled to a node`);
  if (podNode !== loc.node) return refuse(`pod ${pod} runs on node ${podNode}, not on node ${loc.node}`);
  const mounted = (p.spec?.volumes ?? []).flatMap((v) => (v.persistentVolumeClaim?.claimName ? [v.persistentVolumeClaim.claimName] : []));
  if (!mounted.includes(claimRef.name)) {
    return refuse(`pod ${pod} does not mount claim ${claimRef.name} (it mounts ${mounted.length ? 'claims ' + mounted.join(', ') : 'no claim'})`);
  }

  const c = objects.claim;
  if (!c) return refuse(`claim ${loc.claim} does not exist`);
  const boundTo = c.spec?.volumeName;
  if (boundTo !== loc.pvName) return refuse(boundTo ? `claim ${loc.claim} is bound to PV ${boundTo}, not to PV ${loc.pvName}` : `claim ${loc.claim} is not bound to a PV`);

  const v = objects.pv;
  if (!v) return refuse(`PV ${loc.pvName} does not exist`);
  const back = v.spec?.claimRef;
  const claimUid = c.metadata?.uid;
  if (!back || back.namespace !== claimRef.namespace || back.name !== claimRef.name || (back.uid && claimUid && back.uid !== claimUid)) {
    const names = back ? `${back.namespace ?? '?'}/${back.name ?? '?'}${back.uid && back.uid !== claimUid ? ` (uid ${back.uid})` : ''}` : 'no claim';
    return refuse(`PV ${loc.pvName} is not bound to claim ${loc.claim}: its claimRef names ${names}`);
  }

  const hostPath = pvHostPath(v);
  if (loc.hostPath !== undefined && loc.hostPath !== hostPath) {
    return refuse(
      hostPath
        ? `the task names host path ${loc.hostPath}, but PV ${loc.pvName}'s path is ${hostPath}`
        : `the task names host path ${loc.hostPath}, but PV ${loc.pvName} has no host path (${pvKind(v)})`,
    );
  }
  const { hostPath: _fromTask, ...rest } = loc;
  return { ok: true, location: hostPath ? { ...rest, hostPath } : rest };
}
