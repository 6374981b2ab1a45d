/**
 * Shared by the suite's child processes (ours.ts, memory-ours.ts, discover-ours.ts, apply-raw.ts),
 * which the parent measures as whole processes and reads one line of JSON from.
 */
import { S3ObjectStore } from '../activities/store/s3-object-store';

/** Runs `main`, prints its result as one line of JSON and exits 0; on failure prints the error and exits 1. */
export function runChild(main: () => Promise<unknown>): void {
  main().then(
    (out) => {
      process.stdout.write(JSON.stringify(out) + '\n');
      process.exit(0);
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}

/** The run's MinIO bucket; credentials from AWS_ACCESS_KEY_ID/SECRET. */
export function benchStore(endpoint: string, bucket: string): S3ObjectStore {
  return new S3ObjectStore({
    endpoint,
    region: 'us-east-1',
    bucket,
    prefix: '',
    forcePathStyle: true,
    accessKeyId: process.env.AWS_ACCESS_KEY_ID,
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
  });
}
