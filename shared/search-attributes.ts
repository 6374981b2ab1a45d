import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Search attributes every DR run sets, so operators can filter runs in the Temporal UI. */
export const DrPlan = defineSearchAttributeKey('DrPlan', SearchAttributeType.KEYWORD);
export const DrOperation = defineSearchAttributeKey('DrOperation', SearchAttributeType.KEYWORD);
export const DrSourceCluster = defineSearchAttributeKey('DrSourceCluster', SearchAttributeType.KEYWORD);
export const DrTargetCluster = defineSearchAttributeKey('DrTargetCluster', SearchAttributeType.KEYWORD);
export const DrPhase = defineSearchAttributeKey('DrPhase', SearchAttributeType.KEYWORD);
/** Replication: the achieved RPO in seconds when last measured (filter e.g. `DrRpoSeconds > 900`). */
export const DrRpoSeconds = defineSearchAttributeKey('DrRpoSeconds', SearchAttributeType.INT);
/** The site a run works on: a replication's standby, a failover's target, the site a drill runs on. */
export const DrSite = defineSearchAttributeKey('DrSite', SearchAttributeType.KEYWORD);
/** The recovery point a run takes, restores, ships or drills (`DrRecoveryPoint = '20261201t...'`). */
export const DrRecoveryPoint = defineSearchAttributeKey('DrRecoveryPoint', SearchAttributeType.KEYWORD);
/** How the run ended: succeeded, failed, cancelled, or the operation's own word (rejected, rolled-back, passed). */
export const DrOutcome = defineSearchAttributeKey('DrOutcome', SearchAttributeType.KEYWORD);

export const ALL_SEARCH_ATTRIBUTES = [DrPlan, DrOperation, DrSourceCluster, DrTargetCluster, DrPhase, DrRpoSeconds, DrSite, DrRecoveryPoint, DrOutcome];

/** The type name the Temporal CLI takes for a search attribute. */
export const searchAttributeTypeName = (k: (typeof ALL_SEARCH_ATTRIBUTES)[number]): string => (k.type === SearchAttributeType.INT ? 'Int' : 'Keyword');

/** `--search-attribute` flags for `temporal server start-dev`. */
export const searchAttributeFlags = (): string[] =>
  ALL_SEARCH_ATTRIBUTES.flatMap((k) => ['--search-attribute', `${k.name}=${searchAttributeTypeName(k)}`]);
