/** Helpers the plan-schema unit tests share: no servers, pure parsing. */
import { InvalidInputError } from '../../../shared/errors';
import { parsePlan } from '../../../shared/plan';

/** The field-named problems a plan is rejected with; fails the test if it is accepted. */
export function issuesOf(yamlText: string): string[] {
  try {
    parsePlan(yamlText);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidInputError);
    return (err as InvalidInputError).issues;
  }
  throw new Error('expected the plan to be rejected');
}

/** The resolved-to-be hooks of a minimal plan whose `spec.hooks` is the given YAML list. */
export const planWithHooks = (hooks: string) =>
  parsePlan(`apiVersion: temporal-dr/v1
kind: DRPlan
metadata: { name: shop }
spec:
  source: { context: source }
  selector: { namespaces: [shop] }
  store: { url: s3://temporal-dr/plans, encryption: { keyFrom: { env: TDR_ENCRYPTION_KEY } } }
  hooks:
${hooks}`).spec.hooks;
