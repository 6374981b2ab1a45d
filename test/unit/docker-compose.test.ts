/** docker-compose.yml cannot run here (no Docker engine); this keeps its structure honest. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { ALL_SEARCH_ATTRIBUTES } from '../../shared/search-attributes';

const compose = parse(readFileSync(path.join(__dirname, '../../docker-compose.yml'), 'utf8'));
const services = compose.services as Record<string, any>;

describe('docker-compose.yml', () => {
  it('has the Temporal server on PostgreSQL, the UI, MinIO with its bucket, and the worker', () => {
    expect(Object.keys(services).sort()).toEqual(
      ['minio', 'minio-bucket', 'postgresql', 'temporal', 'temporal-search-attributes', 'temporal-ui', 'worker'].sort(),
    );
    expect(services.temporal.environment.DB).toBe('postgres12');
    expect(services.temporal.environment.POSTGRES_SEEDS).toBe('postgresql');
    expect(services['temporal-ui'].environment.TEMPORAL_ADDRESS).toBe('temporal:7233');
    expect(services.worker.build).toBe('.');
  });

  it('publishes the usual ports', () => {
    expect(services.temporal.ports).toContain('7233:7233');
    expect(services['temporal-ui'].ports).toContain('8233:8080');
    expect(services.minio.ports).toEqual(expect.arrayContaining(['9000:9000', '9001:9001']));
  });

  it('persists PostgreSQL and MinIO data in named volumes', () => {
    expect(Object.keys(compose.volumes)).toEqual(expect.arrayContaining(['temporal-postgres', 'minio-data']));
    expect(services.postgresql.volumes[0]).toMatch(/^temporal-postgres:/);
    expect(services.minio.volumes[0]).toMatch(/^minio-data:/);
  });

  it('orders start-up by health and only references services that exist', () => {
    for (const [name, svc] of Object.entries(services)) {
      for (const dep of Object.keys(svc.depends_on ?? {})) {
        expect({ name, dep, exists: dep in services }).toEqual({ name, dep, exists: true });
        const cond = svc.depends_on[dep].condition;
        if (cond === 'service_healthy') expect(services[dep].healthcheck).toBeDefined();
      }
    }
    expect(services.worker.depends_on['minio-bucket'].condition).toBe('service_completed_successfully');
  });

  it('registers every search attribute the code uses and points the worker at the compose services', () => {
    const cmd = services['temporal-search-attributes'].command.join(' ');
    for (const key of ALL_SEARCH_ATTRIBUTES) expect(cmd).toContain(key.name);
    expect(services.worker.environment.TEMPORAL_ADDRESS).toBe('temporal:7233');
    expect(services.worker.environment.S3_ENDPOINT).toBe('http://minio:9000');
    expect(services['minio-bucket'].command.join(' ')).toContain('local/temporal-dr');
  });
});
