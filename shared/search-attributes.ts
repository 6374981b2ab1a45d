import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Search attributes every DR run sets, so operators can filter runs in the Temporal UI. */
export const DrPlan = defineSearchAttributeKey('DrPlan', SearchAttributeType.KEYWORD);
export const DrOperation = defineSearchAttributeKey('DrOperation', SearchAttributeType.KEYWORD);
export const DrSourceCluster = defineSearchAttributeKey('DrSourceCluster', SearchAttributeType.KEYWORD);
export const DrTargetCluster = defineSearchAttributeKey('DrTargetCluster', SearchAttributeType.KEYWORD);
export const DrPhase = defineSearchAttributeKey('DrPhase', SearchAttributeType.KEYWORD);

export const ALL_SEARCH_ATTRIBUTES = [DrPlan, DrOperation, DrSourceCluster, DrTargetCluster, DrPhase];

/** `--search-attribute` flags for `temporal server start-dev`. */
export const searchAttributeFlags = (): string[] =>
  ALL_SEARCH_ATTRIBUTES.flatMap((k) => ['--search-attribute', `${k.name}=Keyword`]);
