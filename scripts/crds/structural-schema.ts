/**
 * Turns zod's OpenAPI 3.0 output into a Kubernetes structural schema
 * (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema):
 * every node typed, no $ref, no additionalProperties next to properties, no type inside anyOf.
 * Where zod's type is open (z.unknown, records of unknown) or cannot be made structural, the node
 * keeps any value (x-kubernetes-preserve-unknown-fields) and its path is reported.
 */
export type OpenApiSchema = Record<string, unknown>;

/** Formats the API server validates; zod's own (starts_with, includes) come with an equivalent pattern. */
const KUBERNETES_FORMATS = new Set(['uri', 'email', 'hostname', 'ipv4', 'ipv6', 'cidr', 'mac', 'uuid', 'date', 'date-time', 'duration', 'byte', 'password', 'int32', 'int64', 'float', 'double']);

/** Keywords structural schemas accept that zod emits. */
const KEPT = new Set(['type', 'properties', 'items', 'required', 'enum', 'default', 'pattern', 'minLength', 'maxLength', 'minItems', 'maxItems', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'description', 'format']);

const isEmptySchema = (s: unknown) => s === true || (typeof s === 'object' && s !== null && Object.keys(s).length === 0);

export function toStructuralSchema(schema: OpenApiSchema, at: string, open: string[]): OpenApiSchema {
  const out: OpenApiSchema = {};
  const anyOf = (schema.anyOf ?? schema.oneOf) as OpenApiSchema[] | undefined;
  if (anyOf) {
    const types = anyOf.map((s) => s.type).sort();
    // z.union([number, string]) (e.g. a port by number or name): Kubernetes' int-or-string.
    if (types.length === 2 && types[0] === 'integer' && types[1] === 'string') {
      return { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] };
    }
    open.push(at);
    return { 'x-kubernetes-preserve-unknown-fields': true };
  }
  if (schema.type === undefined || schema.$ref !== undefined || schema.allOf !== undefined) {
    open.push(at);
    return { 'x-kubernetes-preserve-unknown-fields': true };
  }
  for (const [key, value] of Object.entries(schema)) {
    if (!KEPT.has(key)) continue;
    if (key === 'format' && !KUBERNETES_FORMATS.has(value as string)) continue;
    if (key === 'maximum' && value === Number.MAX_SAFE_INTEGER) continue;
    // zod's date-time regex says what the format already does, in a form harder to read in kubectl explain.
    if (key === 'pattern' && schema.format === 'date-time') continue;
    if (key === 'minimum' && value === Number.MIN_SAFE_INTEGER) continue;
    if (key === 'properties') {
      out.properties = Object.fromEntries(
        Object.entries(value as Record<string, OpenApiSchema>).map(([name, s]) => [name, toStructuralSchema(s, `${at}.${name}`, open)]),
      );
    } else if (key === 'items') {
      out.items = toStructuralSchema(value as OpenApiSchema, `${at}[]`, open);
    } else out[key] = value;
  }
  const additional = schema.additionalProperties;
  if (additional !== undefined && additional !== false && !schema.properties) {
    if (isEmptySchema(additional)) {
      open.push(`${at}.*`);
      out['x-kubernetes-preserve-unknown-fields'] = true;
    } else out.additionalProperties = toStructuralSchema(additional as OpenApiSchema, `${at}.*`, open);
  }
  // A strict zod object rejects unknown fields; the API server prunes them, and rejects them
  // (naming the field) under fieldValidation=Strict, kubectl's default.
  return out;
}
