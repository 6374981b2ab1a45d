import type { Command } from 'commander';

/** Examples shown at the end of each command's --help, by command path. Every command has some (a test walks the tree). */
export const HELP_EXAMPLES: Record<string, string[]> = {
  'plan validate': ['drctl plan validate shop.yaml'],
  'plan apply': ['drctl plan apply shop.yaml -n shop', 'drctl plan apply shop.yaml -n shop --context prod-eu   # then: drctl backup shop -n shop'],
  'plan list': ['drctl plan list -n shop', 'drctl plan list -n shop -o json'],
  'plan get': ['drctl plan get shop -n shop', 'drctl plan get shop -n shop -o yaml'],
  'key generate': ['drctl key generate > key.b64   # then export TDR_ENCRYPTION_KEY=$(cat key.b64) on workers and agents'],
  'key rotate': [
    'drctl key rotate --plan shop.yaml --to-env TDR_ENCRYPTION_KEY_2   # then set keyFrom.env: TDR_ENCRYPTION_KEY_2',
    'drctl key rotate --plan shop.yaml --to-secret dr-system/repo-key/key --revoke-old',
  ],
  backup: ['drctl backup shop.yaml', 'drctl backup shop -n shop   # the DRPlan shop in namespace shop', 'drctl backup shop.yaml --no-wait && drctl runs watch backup/shop'],
  'points list': ['drctl points list --plan shop.yaml', 'drctl points list shop -n shop   # store and key from the DRPlan shop', 'drctl points list shop --store s3://dr/points --endpoint http://minio:9000 -o json'],
  'points describe': ['drctl points describe shop/latest --plan shop.yaml', 'drctl points describe shop/20261201T030000Z-1a2b3c4d --plan shop.yaml -o yaml'],
  'points verify': ['drctl points verify shop/latest --plan shop.yaml --read-data'],
  'points prune': ['drctl points prune --plan shop.yaml --dry-run', 'drctl points prune --plan shop.yaml --abandoned-after 2d'],
  restore: [
    'drctl restore shop/latest --plan shop.yaml --to target --namespace-map shop=shop-restored --dry-run',
    'drctl restore shop/latest --plan shop.yaml --to target --volume shop/data-db-0 --existing skip',
  ],
  'replicate start': ['drctl replicate start shop.yaml', 'drctl replicate start shop.yaml --site west --interval 5m'],
  'replicate status': ['drctl replicate status shop', 'drctl replicate status shop.yaml --site west -o json'],
  'replicate pause': ['drctl replicate pause shop --site west'],
  'replicate resume': ['drctl replicate resume shop'],
  'replicate now': ['drctl replicate now shop   # take and ship a point at once'],
  'replicate interval': ['drctl replicate interval shop 2m'],
  'replicate stop': ['drctl replicate stop shop'],
  failover: ['drctl failover shop.yaml --to west --planned', 'drctl failover shop.yaml --to west --unplanned --detach', 'drctl failover shop --status'],
  failback: ['drctl failback shop.yaml --from west'],
  approve: ['drctl approve shop --gate before-traffic-switch --reason "checked the dashboards"'],
  reject: ['drctl reject shop --gate confirm-fenced --reason "old primary still answers"'],
  'drill run': ['drctl drill run shop.yaml', 'drctl drill run shop.yaml --to dr-lab -o json'],
  'drill schedule': ['drctl drill schedule shop.yaml', 'drctl drill schedule shop.yaml --cron "0 3 * * 1" --pause-after-failures 2'],
  'drill pause': ['drctl drill pause shop'],
  'drill unpause': ['drctl drill unpause shop'],
  'drill delete': ['drctl drill delete shop'],
  'drill list': ['drctl drill list shop.yaml', 'drctl drill list shop.yaml -o name'],
  'drill report': ['drctl drill report shop.yaml shop-20261201t030000z-1a2b3c --html drill.html'],
  'store check': ['drctl store check --store s3://dr/points --endpoint http://minio:9000'],
  'runs list': ['drctl runs list --plan shop --running', 'drctl runs list --operation failover -o json'],
  'runs describe': ['drctl runs describe backup/shop -o yaml'],
  'runs watch': ['drctl runs watch failover/shop'],
  'runs cancel': ['drctl runs cancel drill/shop/shop-20261201t030000z-1a2b3c'],
  status: ['drctl status', 'drctl status shop -o json'],
  'codec-server': ['drctl codec-server   # then point the Temporal UI\'s codec endpoint at http://127.0.0.1:8888', 'drctl codec-server --port 9999 --ui-origin https://temporal.example.com'],
  completion: ['source <(drctl completion bash)   # or add it to ~/.bashrc', 'source <(drctl completion zsh)    # or add it to ~/.zshrc'],
};

/** Adds each command's examples to its --help. */
export function addHelpExamples(program: Command): void {
  const walk = (cmd: Command, path: string[]) => {
    const examples = HELP_EXAMPLES[path.join(' ')];
    if (examples) cmd.addHelpText('after', `\nExamples:\n${examples.map((e) => `  ${e}`).join('\n')}`);
    for (const c of cmd.commands) walk(c, [...path, c.name()]);
  };
  walk(program, []);
}
