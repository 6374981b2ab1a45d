import { markerFor, resolveHook, resolveHooks, type SessionHook } from '../../../shared/hook-presets';
import { planWithHooks } from './plan-helpers';


const pods = { namespace: 'shop', matchLabels: { app: 'postgres' } };

describe('hook presets', () => {
  it('postgresql: one psql session around the copy, backup_label from the post output', () => {
    const [hook] = planWithHooks(`    - { name: postgres, preset: postgresql, container: postgres, podSelector: { namespace: shop, matchLabels: { app: postgres } } }\n`);
    expect(resolveHook(hook)).toEqual({
      name: 'postgres',
      podSelector: pods,
      container: 'postgres',
      preset: 'postgresql',
      session: true,
      command: ['psql', '-X', '-A', '-t', '-U', 'postgres', '-v', 'ON_ERROR_STOP=1'],
      markerStatement: '\\echo {marker}',
      pre: { stdin: "SELECT pg_backup_start('temporal-dr', true);", timeout: '5m', onError: 'fail' },
      post: { stdin: "SELECT rtrim(labelfile, E'\\n') FROM pg_backup_stop(true);", timeout: '5m', onError: 'fail' },
      artifacts: [{ from: 'post.stdout', path: '/var/lib/postgresql/data/backup_label' }],
      recopyAfterPost: ['/var/lib/postgresql/data/pg_wal'],
      excludePaths: ['/var/lib/postgresql/data/postmaster.pid', '/var/lib/postgresql/data/postmaster.opts'],
    });
  });

  it('postgresql: user, data directory and the whole command can be overridden', () => {
    const [byUser, byCommand] = resolveHooks(
      planWithHooks(`    - name: pg-app
      preset: postgresql
      podSelector: { namespace: shop, matchLabels: { app: postgres } }
      presetOptions: { user: app, dataDirectory: /var/lib/postgresql/data/pgdata/ }
    - name: pg-custom
      preset: postgresql
      podSelector: { namespace: shop, matchLabels: { app: postgres } }
      presetOptions: { command: [/usr/lib/postgresql/16/bin/psql, -XAt, -h, /tmp, -v, ON_ERROR_STOP=1] }
`),
    ) as SessionHook[];
    expect(byUser.command).toEqual(['psql', '-X', '-A', '-t', '-U', 'app', '-v', 'ON_ERROR_STOP=1']);
    expect(byUser.artifacts).toEqual([{ from: 'post.stdout', path: '/var/lib/postgresql/data/pgdata/backup_label' }]);
    expect(byUser.recopyAfterPost).toEqual(['/var/lib/postgresql/data/pgdata/pg_wal']);
    expect(byCommand.command).toEqual(['/usr/lib/postgresql/16/bin/psql', '-XAt', '-h', '/tmp', '-v', 'ON_ERROR_STOP=1']);
  });

  it('mysql: a read lock held in one session, with a bounded hold', () => {
    const [hook] = resolveHooks(planWithHooks(`    - { name: mysql, preset: mysql, podSelector: { namespace: shop, matchLabels: { app: mysql } } }\n`));
    expect(hook).toMatchObject({
      session: true,
      command: ['mysql', '--user=root', '--batch', '--skip-column-names', '--unbuffered'],
      markerStatement: "SELECT '{marker}';",
      pre: { stdin: 'FLUSH TABLES WITH READ LOCK;', timeout: '2m', onError: 'fail' },
      post: { stdin: 'UNLOCK TABLES;', timeout: '1m', onError: 'fail' },
      maxHold: '15m',
    });
    expect(markerFor(hook as SessionHook, 'tdr-1a2b')).toBe("SELECT 'tdr-1a2b';");
  });

  it('fsfreeze: two exec calls with a safety hold limit that the plan can change', () => {
    const [hook] = resolveHooks(
      planWithHooks(`    - { name: freeze, preset: fsfreeze, maxHold: 2m, presetOptions: { mountPath: /data }, podSelector: { namespace: shop, matchLabels: { app: db } } }\n`),
    );
    expect(hook).toEqual({
      name: 'freeze',
      podSelector: { namespace: 'shop', matchLabels: { app: 'db' } },
      preset: 'fsfreeze',
      session: false,
      pre: { command: ['fsfreeze', '-f', '/data'], timeout: '30s', onError: 'fail' },
      post: { command: ['fsfreeze', '-u', '/data'], timeout: '30s', onError: 'fail' },
      maxHold: '2m',
      artifacts: [],
      recopyAfterPost: [],
      excludePaths: [],
    });
  });

  it('custom hooks resolve as written', () => {
    const [session, exec] = resolveHooks(
      planWithHooks(`    - name: redis-save
      podSelector: { namespace: shop, matchLabels: { app: redis } }
      session: true
      command: [redis-cli]
      markerStatement: 'ECHO {marker}'
      pre: { stdin: 'CONFIG SET appendfsync always', timeout: 10s }
    - name: app-flush
      podSelector: { namespace: shop, matchLabels: { app: web } }
      container: web
      post: { command: [curl, -XPOST, 'localhost:8080/resume'], onError: continue }
`),
    );
    expect(session).toEqual({
      name: 'redis-save',
      podSelector: { namespace: 'shop', matchLabels: { app: 'redis' } },
      session: true,
      command: ['redis-cli'],
      markerStatement: 'ECHO {marker}',
      pre: { stdin: 'CONFIG SET appendfsync always', timeout: '10s', onError: 'fail' },
      artifacts: [],
      recopyAfterPost: [],
      excludePaths: [],
    });
    expect(exec).toEqual({
      name: 'app-flush',
      podSelector: { namespace: 'shop', matchLabels: { app: 'web' } },
      container: 'web',
      session: false,
      post: { command: ['curl', '-XPOST', 'localhost:8080/resume'], timeout: '30s', onError: 'continue' },
      artifacts: [],
      recopyAfterPost: [],
      excludePaths: [],
    });
  });
});
