import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { ruleMetrics } from '../harness/metrics';

const REPO = path.join(__dirname, '../..');

/** promtool built by scripts/stack/build-promtool.sh (scripts/test.sh exports PROMTOOL_BIN; cached after the first build). */
function promtool(): string {
  if (process.env.PROMTOOL_BIN) return process.env.PROMTOOL_BIN;
  const out = execFileSync('bash', [path.join(REPO, 'scripts/stack/build-promtool.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 20 * 60_000 });
  return /^PROMTOOL_BIN=(.+)$/m.exec(out)![1]!;
}

describe('Prometheus alert rules (deploy/prometheus/dr-alerts.yaml), checked by promtool', () => {
  const bin = promtool();
  const run = (...args: string[]) => execFileSync(bin, args, { cwd: path.join(REPO, 'deploy/prometheus'), encoding: 'utf8' });

  it('parse, with every alert and recording rule', () => {
    expect(run('check', 'rules', 'dr-alerts.yaml')).toMatch(/SUCCESS: 10 rules found/);
  });

  it('fire as their unit tests say: RPO at 2x and 3x, failed backup and drill, no point for 3 intervals, node agent down', () => {
    expect(run('test', 'rules', 'dr-alerts.test.yaml')).toMatch(/SUCCESS/);
  });

  it('query the DR series the worker exports (the failover and drill tests scrape them), and the node agents\' scrape health', () => {
    expect(ruleMetrics().sort()).toEqual(
      [
        'dr_backup_last_success_timestamp_seconds',
        'dr_drill_last_success_timestamp_seconds',
        'dr_drills_total',
        'dr_replication_consecutive_failures',
        'dr_replication_interval_seconds',
        'dr_replication_newest_point_timestamp_seconds',
        'dr_replication_rpo_target_seconds',
        'dr_runs_total',
        'up',
      ].sort(),
    );
  });
});
