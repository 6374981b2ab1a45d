import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parsePlan } from '../../shared/plan';
import { InvalidInputError } from '../../shared/errors';
import { applyPlanFile, getDRPlanSummary, listDRPlans, planSource, formatDRPlanTable, type DRPlanSummary } from '../plan-source';
import { printOutput, withOutput, type OutputOptions } from '../output';
import { DR_API_GROUP } from '../../shared/custom-resources';

/** `-n/--namespace` is a global flag: the resource commands need it. */
function requireNamespace(verb: string): string {
  const ns = planSource().namespace;
  if (!ns) throw new InvalidInputError(`plan ${verb}: give the namespace of the DRPlan resources with -n/--namespace <namespace>`);
  return ns;
}

function describeSummary(s: DRPlanSummary): string {
  return [
    `DRPlan ${s.namespace}/${s.name}`,
    `  protected:   ${s.protected.status}${s.protected.reason ? ` (${s.protected.reason})` : ''}${s.protected.message ? `: ${s.protected.message}` : ''}`,
    `  last point:  ${s.lastPoint ? `${s.lastPoint.id}${s.lastPoint.time ? ` at ${s.lastPoint.time}` : ''}` : '-'}`,
    `  schedules:   ${s.schedules.join(', ') || '-'}`,
    ...(s.generation !== undefined && s.observedGeneration !== s.generation ? [`  note: generation ${s.generation} not reconciled yet (observed ${s.observedGeneration ?? 'none'}); is the controller running?`] : []),
  ].join('\n');
}

/** Reads and validates a plan file; every problem is reported with its path. */
export function loadPlanFile(file: string): ReturnType<typeof parsePlan> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InvalidInputError(`cannot read plan file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return parsePlan(text);
  } catch (err) {
    if (err instanceof InvalidInputError) throw new InvalidInputError(`${file}: ${err.message}`);
    throw err;
  }
}

export function registerPlanCommands(program: Command): void {
  const plan = program.command('plan').description('DR plans');
  plan
    .command('validate <file>')
    .description('check a plan file and print every problem with its path; exits 1 when invalid')
    .action((file: string) => {
      const p = loadPlanFile(file);
      const s = p.spec;
      console.log(
        `${file}: plan ${p.metadata.name} is valid: ${s.selector.namespaces.length} namespace(s) on context ${s.source.context}, ` +
          `${s.hooks.length} hook(s), store ${s.store.url}` + (s.target ? `, target ${s.target.context}` : '') +
          (s.standbys ? `, standby site(s) ${s.standbys.map((x) => `${x.name} (${x.context}, ${x.store.url})`).join(', ')} within rpo ${s.rpo}` : ''),
      );
    });
  plan
    .command('apply <file>')
    .description('validate a plan file (as plan validate) and server-side apply it as a DRPlan resource in the namespace given by -n, on --context (default: the kubeconfig\'s current context)')
    .action(async (file: string) => {
      const ns = requireNamespace('apply');
      const r = await applyPlanFile(file, ns, planSource().context);
      if (r.plan.spec.source.context !== r.context) {
        console.error(`note: the plan's spec.source.context is ${r.plan.spec.source.context} but it was applied on context ${r.context}; the controller protects only the cluster it runs in`);
      }
      console.log(`drplan.${DR_API_GROUP}/${r.plan.metadata.name} ${r.outcome} in namespace ${ns} (context ${r.context})`);
    });
  withOutput(plan.command('list').description('list the DRPlan resources of the namespace given by -n: Protected condition and reason, last point, schedules')).action(async (opts: OutputOptions) => {
    const ns = requireNamespace('list');
    const rows = await listDRPlans(ns, planSource().context);
    printOutput(opts, rows, () => (rows.length ? formatDRPlanTable(rows) : `no DRPlans in namespace ${ns}`), () => rows.map((r) => r.name));
  });
  withOutput(plan.command('get <name>').description('show one DRPlan resource of the namespace given by -n: Protected condition, reason and message, last point, schedules')).action(
    async (name: string, opts: OutputOptions) => {
      const ns = requireNamespace('get');
      const { summary } = await getDRPlanSummary(name, ns, planSource().context);
      printOutput(opts, summary, () => describeSummary(summary), () => [summary.name]);
    },
  );
}
