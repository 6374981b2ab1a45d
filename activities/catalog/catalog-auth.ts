/**
 * Authentication of catalogs. A catalog is clear JSON so points can be listed without the key,
 * but a restore applies what it says (the plan's transforms, patches, image rewrites), so nothing
 * acts on one whose MAC does not verify under the repository key. The MAC covers the RFC 8785
 * canonical form of every other field and the catalog's place in the store (plan and point), so
 * a catalog cannot be edited, and one point's catalog cannot be passed off as another's.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { canonicalize } from 'json-canonicalize';
import { CATALOG_FORMAT_VERSION, parseCatalog, type Catalog } from '../../shared/catalog';
import { DataCorruptionError } from '../../shared/errors';
import type { RepositoryKeys } from '../datapath/crypto';

/** A catalog that cannot be trusted: edited, moved, written with another key, or from before catalogs were signed. */
export class CatalogAuthenticationError extends DataCorruptionError {}

function macOf(keys: RepositoryKeys, planName: string, pointId: string, fields: Record<string, unknown>): string {
  const { mac: _ignored, ...rest } = fields;
  return createHmac('sha256', keys.metaKey).update(`tdr-catalog\n${planName}/${pointId}\n`).update(canonicalize(rest)).digest('hex');
}

/** The catalog's JSON as stored: `catalog` with its format version set and its MAC added. */
export function sealCatalog(keys: RepositoryKeys, catalog: Omit<Catalog, 'mac' | 'formatVersion'>): string {
  // Through JSON first, so the MAC covers exactly what a reader will parse (no undefined fields).
  const plain = JSON.parse(JSON.stringify({ ...catalog, formatVersion: CATALOG_FORMAT_VERSION })) as Record<string, unknown>;
  return JSON.stringify({ ...plain, mac: macOf(keys, catalog.planName, catalog.pointId, plain) }, null, 1);
}

/**
 * Authenticates and parses the catalog stored for `planName/pointId`: the MAC first, so an edited
 * catalog is reported as edited whatever it says. Throws CatalogAuthenticationError when it does
 * not verify, DataCorruptionError when it is not a catalog at all.
 */
export function openCatalog(keys: RepositoryKeys, body: string, at: { planName: string; pointId: string; where: string }): Catalog {
  const point = `${at.planName}/${at.pointId}`;
  let fields: Record<string, unknown> | undefined;
  try {
    const data: unknown = JSON.parse(body);
    if (typeof data === 'object' && data !== null && !Array.isArray(data)) fields = data as Record<string, unknown>;
  } catch {
    // parseCatalog below reports it.
  }
  if (!fields) return parseCatalog(body, at.where);
  if (typeof fields.mac !== 'string') {
    parseCatalog(fields, at.where);
    throw new CatalogAuthenticationError(
      `${at.where} (point ${point}) carries no MAC: it was written by a release that did not sign catalogs, so it cannot be authenticated and nothing is restored from it; take a new backup, and prune old points once a new one exists`,
    );
  }
  const expected = Buffer.from(macOf(keys, at.planName, at.pointId, fields), 'hex');
  const found = Buffer.from(fields.mac, 'hex');
  if (found.length !== expected.length || !timingSafeEqual(found, expected)) {
    throw new CatalogAuthenticationError(
      `${at.where} (point ${point}) failed authentication: it was changed or moved by someone without the repository key, or written with another key; do not restore from it (choose an older point), and check who can write to the bucket`,
    );
  }
  const catalog = parseCatalog(fields, at.where);
  if (catalog.planName !== at.planName || catalog.pointId !== at.pointId) {
    // Unreachable with a valid MAC (it binds the location); kept as a plain consistency check.
    throw new CatalogAuthenticationError(`${at.where} names point ${catalog.planName}/${catalog.pointId}, not ${point}`);
  }
  return catalog;
}
