import type { Plan } from '../../shared/plan';
import { InvalidInputError } from '../../shared/errors';
import type { KeyRef } from '../store/open-repository';

/** The plan's encryption key reference, as workers resolve it. */
export function keyRefOf(plan: Plan): KeyRef {
  const from = plan.spec.store.encryption.keyFrom;
  if (from.env) return { env: from.env };
  throw new InvalidInputError(
    'spec.store.encryption.keyFrom.secret: keys from a Kubernetes Secret are not supported by this release yet; put the key in a worker environment variable and use keyFrom.env',
  );
}
