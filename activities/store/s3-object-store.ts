import {
  DeleteObjectsCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  PutObjectRetentionCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { Upload } from '@aws-sdk/lib-storage';
import type { Readable } from 'node:stream';
import tls from 'node:tls';
import type { ObjectStore, StoredObject } from './object-store';
import { isLockedKey, laterRetention, retainUntil, s3LockMode, type ObjectLockRef, type ObjectRetention } from '../../shared/object-lock';
import { InvalidInputError, NotFoundError, PermissionDeniedError, StoreUnavailableError } from '../../shared/errors';
import { UNTRUSTED_CERT_CODES } from '../../config/tls-errors';

export interface S3StoreConfig {
  /** e.g. http://127.0.0.1:9000; omit for AWS. */
  endpoint?: string;
  region: string;
  bucket: string;
  /** Key prefix inside the bucket, without leading or trailing slash; may be empty. */
  prefix: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Path-style addressing (required by MinIO and most self-hosted stores). */
  forcePathStyle: boolean;
  /** PEM CA certificates trusted for an https endpoint besides Node's bundled ones (S3_CA_FILE). */
  ca?: string;
  /** Write the keys shared/object-lock.ts names under S3 Object Lock. */
  objectLock?: ObjectLockRef;
}

/**
 * A failed TLS connection to the store, as an error that says what to change; undefined when `err`
 * is not one. `during` names the request (`PUT probes/x`).
 */
export function storeTlsError(err: unknown, endpoint: string | undefined, location: string, during: string): StoreUnavailableError | undefined {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (!code) return undefined;
  const at = `the object store at ${endpoint ?? 'AWS S3'}`;
  let what: string | undefined;
  if (UNTRUSTED_CERT_CODES.has(code)) {
    what =
      `${at} presented a certificate no trusted CA signed (${code}). Set S3_CA_FILE to a PEM file holding the CA ` +
      'that signed it, on the worker, the node agents and drctl (it adds to the CAs Node trusts)';
  } else if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const names = (err as { cert?: { subjectaltname?: string } }).cert?.subjectaltname;
    what =
      `the certificate of ${at} does not name that host (${code}${names ? `; it names ${names}` : ''}). Use a host name the certificate names ` +
      'in the endpoint (S3_ENDPOINT or the plan\'s store endpoint), or reissue the certificate for this one; ' +
      'S3_CA_FILE only makes its CA trusted';
  } else if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    what = `the certificate of ${at} is not valid now (${code}); renew it on the server, or check this machine's clock`;
  } else if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') {
    what = `${at} does not speak TLS on that port (${code}); use http:// in the endpoint, or enable TLS on the server`;
  }
  return what ? new StoreUnavailableError(`TLS failed during ${during}: ${what}`, location) : undefined;
}

const isMissing = (err: unknown) =>
  err instanceof NoSuchKey ||
  err instanceof NotFound ||
  (err instanceof S3ServiceException && err.$metadata?.httpStatusCode === 404);

/** ObjectStore over any S3-compatible server with @aws-sdk/client-s3. */
// The SDK warns on every command, in eight lines, that its releases after January 2027 need
// Node 22: a matter for our dependency pins (package.json engines), not for the operator. Set the
// variable to anything else to see it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export class S3ObjectStore implements ObjectStore {
  readonly location: string;
  readonly client: S3Client;

  constructor(readonly config: S3StoreConfig, client?: S3Client) {
    this.location = `s3://${config.bucket}${config.prefix ? '/' + config.prefix : ''}`;
    this.client =
      client ??
      new S3Client({
        endpoint: config.endpoint,
        region: config.region,
        forcePathStyle: config.forcePathStyle,
        credentials:
          config.accessKeyId && config.secretAccessKey
            ? { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey }
            : undefined,
        // The default CRC checksums cost 10-25% of throughput and MinIO verifies Content-MD5-less
        // bodies anyway; our data carries its own HMAC ids and GCM tags.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        maxAttempts: 4,
        // Agent options, not an Agent: the SDK's handler keeps its own keep-alive and socket limits.
        requestHandler: config.ca ? { httpsAgent: { ca: [...tls.rootCertificates, config.ca] } } : undefined,
      });
  }

  private fullKey(key: string): string {
    return this.config.prefix ? `${this.config.prefix}/${key}` : key;
  }

  private wrap(op: string, key: string, err: unknown): Error {
    const name = (err as Error)?.name;
    if (name === 'NoSuchBucket') {
      return new NotFoundError(`${op} ${this.location}/${key}: bucket ${this.config.bucket} does not exist at ${this.config.endpoint ?? 'AWS S3'}; create it or fix the store URL`);
    }
    if (err instanceof S3ServiceException && /WORM protected|protected by object lock/i.test(err.message ?? '')) {
      return new PermissionDeniedError(
        `${op} ${this.location}/${key}: refused by S3 Object Lock (${err.name}: ${err.message}); the object version is retained until its retain-until date and cannot be deleted or shortened before then (governance: only with the bypass permission and header)`,
      );
    }
    if (name === 'AccessDenied' || name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch') {
      return new PermissionDeniedError(
        `${op} ${this.location}/${key}: ${name}; check the access key and secret (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the plan's credentials) and the bucket policy`,
      );
    }
    if (name === 'CredentialsProviderError') {
      return new InvalidInputError(
        `${op} ${this.location}/${key}: no credentials for the object store; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or give --plan, whose store names its credential variables)`,
      );
    }
    if (err instanceof S3ServiceException) {
      return new StoreUnavailableError(
        `${op} ${this.location}/${key} failed: ${err.name}${err.message ? ': ' + err.message : ''}`,
        this.location,
      );
    }
    const tlsError = storeTlsError(err, this.config.endpoint, this.location, `${op} ${key}`);
    if (tlsError) return tlsError;
    const code = (err as NodeJS.ErrnoException)?.code;
    if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'ETIMEDOUT' || code === 'ECONNRESET') {
      return new StoreUnavailableError(
        `cannot reach the object store at ${this.config.endpoint ?? 'AWS S3'} (${code}) during ${op} ${key}; check S3_ENDPOINT and that the server is running`,
        this.location,
      );
    }
    return err instanceof Error ? err : new Error(String(err));
  }

  async put(key: string, body: Buffer | string, opts?: { contentType?: string; contentMd5?: string; retainUntil?: Date }): Promise<void> {
    const lock = this.config.objectLock && isLockedKey(key) ? this.config.objectLock : undefined;
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.config.bucket,
          Key: this.fullKey(key),
          Body: body,
          ContentType: opts?.contentType,
          // S3 and MinIO refuse lock headers on a PUT without an integrity header.
          ContentMD5: opts?.contentMd5 ?? (lock ? createHash('md5').update(body).digest('base64') : undefined),
          ...(lock ? { ObjectLockMode: s3LockMode(lock.mode), ObjectLockRetainUntilDate: opts?.retainUntil ?? retainUntil(new Date(), lock) } : {}),
        }),
      );
    } catch (err) {
      throw this.wrap('PUT', key, err);
    }
  }

  async putIfAbsent(key: string, body: Buffer | string, opts?: { contentType?: string }): Promise<boolean> {
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.config.bucket, Key: this.fullKey(key), Body: body, ContentType: opts?.contentType, IfNoneMatch: '*' }),
      );
      return true;
    } catch (err) {
      // 412: the key exists. 409: another conditional write of it is in flight (S3): it wins.
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 412 || status === 409) return false;
      throw this.wrap('PUT', key, err);
    }
  }

  async putStream(key: string, body: Readable, opts?: { contentType?: string; signal?: AbortSignal }): Promise<void> {
    try {
      const upload = new Upload({
        client: this.client,
        params: { Bucket: this.config.bucket, Key: this.fullKey(key), Body: body, ContentType: opts?.contentType },
        partSize: 16 * 1024 * 1024,
        queueSize: 4,
        leavePartsOnError: false,
      });
      opts?.signal?.addEventListener('abort', () => void upload.abort());
      await upload.done();
    } catch (err) {
      throw this.wrap('PUT', key, err);
    }
  }

  async get(key: string, opts?: { versionId?: string }): Promise<Buffer | undefined> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: this.fullKey(key), VersionId: opts?.versionId }));
      return Buffer.from(await res.Body!.transformToByteArray());
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw this.wrap('GET', key, err);
    }
  }

  async getRange(key: string, offset: number, length: number, opts?: { versionId?: string }): Promise<Buffer> {
    try {
      const res = await this.client.send(
        new GetObjectCommand({
          Bucket: this.config.bucket,
          Key: this.fullKey(key),
          VersionId: opts?.versionId,
          Range: `bytes=${offset}-${offset + length - 1}`,
        }),
      );
      const bytes = await res.Body!.transformToByteArray();
      // A view, not a copy (range reads carry whole runs of chunks on restore).
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (err) {
      throw this.wrap('GET', key, err);
    }
  }

  async head(key: string): Promise<{ size: number; lastModified?: Date } | undefined> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.config.bucket, Key: this.fullKey(key) }));
      return { size: res.ContentLength ?? 0, lastModified: res.LastModified };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw this.wrap('HEAD', key, err);
    }
  }

  /**
   * The versions of `key` other than the current one, newest first, without delete markers: in a
   * versioned (lock-enabled) bucket, what an overwrite or a plain delete left behind. [] when the
   * bucket keeps none, or when listing versions is not allowed (the caller reports its own error).
   */
  async previousVersions(key: string): Promise<string[]> {
    const full = this.fullKey(key);
    const out: { id: string; at: number }[] = [];
    let keyMarker: string | undefined;
    let versionIdMarker: string | undefined;
    try {
      do {
        const res = await this.client.send(
          new ListObjectVersionsCommand({ Bucket: this.config.bucket, Prefix: full, KeyMarker: keyMarker, VersionIdMarker: versionIdMarker }),
        );
        for (const v of res.Versions ?? []) {
          if (v.Key === full && v.VersionId && v.VersionId !== 'null' && !v.IsLatest) out.push({ id: v.VersionId, at: v.LastModified?.getTime() ?? 0 });
        }
        keyMarker = res.IsTruncated ? res.NextKeyMarker : undefined;
        versionIdMarker = res.IsTruncated ? res.NextVersionIdMarker : undefined;
      } while (keyMarker);
    } catch {
      return [];
    }
    return out.sort((a, b) => b.at - a.at).map((v) => v.id);
  }

  /**
   * The latest Object Lock retention among the versions of `key` (undefined when none has one, or
   * the key has no version): an overwrite or a delete marker on top does not free a locked version,
   * and a point whose genuine catalog is such a version is still a recovery point.
   */
  async retention(key: string): Promise<ObjectRetention | undefined> {
    let latest: ObjectRetention | undefined;
    try {
      await this.eachVersion(key, async (versionId) => {
        const h = await this.client.send(new HeadObjectCommand({ Bucket: this.config.bucket, Key: this.fullKey(key), VersionId: versionId }));
        if (h.ObjectLockMode && h.ObjectLockRetainUntilDate) {
          latest = laterRetention(latest, { mode: h.ObjectLockMode === 'COMPLIANCE' ? 'compliance' : 'governance', retainUntil: new Date(h.ObjectLockRetainUntilDate) });
        }
      });
    } catch (err) {
      if (isMissing(err)) return latest;
      throw this.wrap('HEAD', key, err);
    }
    return latest;
  }

  /** Calls `fn` with each version id of exactly `key` (not delete markers). */
  private async eachVersion(key: string, fn: (versionId: string) => Promise<void>): Promise<void> {
    const full = this.fullKey(key);
    let keyMarker: string | undefined;
    let versionIdMarker: string | undefined;
    do {
      const res = await this.client.send(new ListObjectVersionsCommand({ Bucket: this.config.bucket, Prefix: full, KeyMarker: keyMarker, VersionIdMarker: versionIdMarker }));
      for (const v of res.Versions ?? []) if (v.Key === full && v.VersionId) await fn(v.VersionId);
      keyMarker = res.IsTruncated ? res.NextKeyMarker : undefined;
      versionIdMarker = res.IsTruncated ? res.NextVersionIdMarker : undefined;
    } while (keyMarker);
  }

  /**
   * Makes every version of `key` retained until at least `lock.retainUntil` (never shortens one):
   * the current version and the ones an overwrite or delete left, since which one is genuine is
   * decided by the reader's authentication, not here. Returns how many versions were extended.
   */
  async extendRetention(key: string, lock: ObjectRetention): Promise<number> {
    const full = this.fullKey(key);
    let extended = 0;
    try {
      await this.eachVersion(key, async (VersionId) => {
        const head = await this.client.send(new HeadObjectCommand({ Bucket: this.config.bucket, Key: full, VersionId }));
        const current = head.ObjectLockRetainUntilDate ? new Date(head.ObjectLockRetainUntilDate).getTime() : 0;
        const sameOrStricter = head.ObjectLockMode === 'COMPLIANCE' || head.ObjectLockMode === s3LockMode(lock.mode);
        if (current >= lock.retainUntil.getTime() && sameOrStricter) return;
        await this.client.send(
          new PutObjectRetentionCommand({
            Bucket: this.config.bucket,
            Key: full,
            VersionId,
            Retention: {
              // A compliance version stays compliance: S3 refuses to weaken it.
              Mode: head.ObjectLockMode === 'COMPLIANCE' ? 'COMPLIANCE' : s3LockMode(lock.mode),
              RetainUntilDate: new Date(Math.max(current, lock.retainUntil.getTime())),
            },
          }),
        );
        extended++;
      });
    } catch (err) {
      throw this.wrap('PUT retention of', key, err);
    }
    return extended;
  }

  /**
   * Whether the bucket has Object Lock enabled. When the server does not say (no permission to read
   * the configuration): undefined for a plan that asks for Object Lock (callers then check each
   * object), false otherwise, so stores used without it need no extra permission.
   */
  async objectLockEnabled(): Promise<boolean | undefined> {
    try {
      const res = await this.client.send(new GetObjectLockConfigurationCommand({ Bucket: this.config.bucket }));
      return res.ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled';
    } catch (err) {
      const name = (err as Error)?.name ?? '';
      if (/ObjectLockConfigurationNotFound|NoSuchObjectLockConfiguration/.test(name)) return false;
      if (name === 'NoSuchBucket') throw this.wrap('GET object lock configuration of', '', err);
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404) return false;
      if (err instanceof S3ServiceException) return this.config.objectLock ? undefined : false;
      throw this.wrap('GET object lock configuration of', '', err);
    }
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    const strip = this.config.prefix ? this.config.prefix.length + 1 : 0;
    let token: string | undefined;
    do {
      let res;
      try {
        res = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.config.bucket, Prefix: this.fullKey(prefix), ContinuationToken: token }),
        );
      } catch (err) {
        throw this.wrap('LIST', prefix, err);
      }
      for (const o of res.Contents ?? []) {
        yield { key: o.Key!.slice(strip), size: o.Size ?? 0, lastModified: o.LastModified };
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      try {
        const res = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.config.bucket,
            Delete: { Objects: batch.map((k) => ({ Key: this.fullKey(k) })), Quiet: true },
          }),
        );
        if (res.Errors?.length) {
          const e = res.Errors[0];
          throw new StoreUnavailableError(`DELETE ${this.location}/${e.Key} failed: ${e.Code} ${e.Message}`, this.location);
        }
      } catch (err) {
        throw err instanceof StoreUnavailableError ? err : this.wrap('DELETE', batch[0], err);
      }
    }
  }
}
