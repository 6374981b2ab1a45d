/**
 * The metric names the shipped Prometheus rules and Grafana dashboard query, and the ones a
 * process really exports, so tests can check the first are a subset of the second.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

const DEPLOY = path.join(__dirname, '../../deploy');
const METRIC = /\b(?:dr|temporal)_\w+/g;

/** Metric names in the rules' expressions (recording-rule names, `dr:...`, are not metrics), plus `up` where a rule watches a scrape. */
export function ruleMetrics(): string[] {
  const rules = parse(readFileSync(path.join(DEPLOY, 'prometheus/dr-alerts.yaml'), 'utf8')) as { groups: { rules: { expr: string }[] }[] };
  const exprs = rules.groups.flatMap((g) => g.rules.map((r) => r.expr));
  return [...new Set(exprs.flatMap((e) => [...(e.match(METRIC) ?? []), ...(/\bup\{/.test(e) ? ['up'] : [])]))];
}

export function dashboardMetrics(): string[] {
  const dashboard = JSON.parse(readFileSync(path.join(DEPLOY, 'grafana/dr-dashboard.json'), 'utf8')) as { panels: { targets: { expr: string }[] }[] };
  return [...new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((t) => t.expr.match(METRIC) ?? [])))];
}

/** Names of the series in a Prometheus text exposition, histogram suffixes folded into their metric. */
export function exportedMetrics(exposition: string): Set<string> {
  return new Set(exposition.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(/[{ ]/)[0]!.replace(/_(bucket|sum|count)$/, '')));
}

/** The value of the first series of `name` whose labels include every one given. */
export function sample(exposition: string, name: string, labels: Record<string, string>): number | undefined {
  const line = exposition.split('\n').find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}
