// Every workflow type the orchestrator worker registers. Deterministic code only.
export { checkStore } from './check-store';
export { backup } from './backup';
export { restore } from './restore';
export { prune, storeGc } from './prune';
export { replicate } from './replicate';
export { failover } from './failover';
export { drill } from './drill';
