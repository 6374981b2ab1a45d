/**
 * The storage class a claim, volume or claim template names. Older charts (and StatefulSet claim
 * templates written for Kubernetes < 1.6) name it with the beta annotation instead of
 * `spec.storageClassName`; Kubernetes still honours the annotation, and it wins when both are set.
 */
export const BETA_STORAGE_CLASS_ANNOTATION = 'volume.beta.kubernetes.io/storage-class';

interface ClassHolder {
  metadata?: { annotations?: Record<string, string> | null } | null;
  spec?: { storageClassName?: string | null } | null;
}

export function storageClassOf(o: ClassHolder): string | undefined {
  const beta = o.metadata?.annotations?.[BETA_STORAGE_CLASS_ANNOTATION];
  if (typeof beta === 'string') return beta;
  const field = o.spec?.storageClassName;
  return typeof field === 'string' ? field : undefined;
}

/** Renames the class wherever `o` names it (annotation and field), in place, per `mapping`. */
export function mapStorageClassInPlace(o: ClassHolder, mapping: Record<string, string>): void {
  const annotations = o.metadata?.annotations;
  const beta = annotations?.[BETA_STORAGE_CLASS_ANNOTATION];
  if (annotations && typeof beta === 'string' && Object.hasOwn(mapping, beta)) annotations[BETA_STORAGE_CLASS_ANNOTATION] = mapping[beta];
  const field = o.spec?.storageClassName;
  if (o.spec && typeof field === 'string' && Object.hasOwn(mapping, field)) o.spec.storageClassName = mapping[field];
}
