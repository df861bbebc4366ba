import { z } from 'zod';
import { apiSchemas } from '@dropspot/protocol/api';

/** A JSON Schema object as the documents carry it (OpenAPI 3.1 and AsyncAPI 3 both take JSON Schema). */
export type JsonSchema = Record<string, unknown>;

/**
 * zod → JSON Schema for the API documents. Named schemas (`apiSchemas` in protocol) become
 * components and are referred to as `<prefix><Id>`; everything else is inlined. Requests are
 * described by their input side (what a client sends: defaults make fields optional, coerced
 * query values are strings on the wire), answers by their output side, which forbids fields a
 * schema does not name, so a test that validates real answers notices an undocumented field.
 */
type Metadata = NonNullable<Parameters<typeof z.toJSONSchema>[1]>['metadata'];
/**
 * zod reads one metadata registry: this one answers with a schema's `.describe()` text (zod's
 * global registry) and, for answers, its component id (`apiSchemas`). zod only ever calls `get`.
 */
const withIds = { get: (schema: z.ZodType) => ({ ...z.globalRegistry.get(schema), ...apiSchemas.get(schema) }) } as unknown as Metadata;

export function createSchemaConverter(prefix: string) {
  const ref = (id: string) => `${prefix}${id}`;

  function rewriteRefs(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(rewriteRefs);
    if (typeof value !== 'object' || value === null) return value;
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      if (key === '$schema' || key === '$defs') continue;
      out[key] = key === '$ref' && typeof item === 'string' && item.startsWith('#/$defs/') ? ref(item.slice('#/$defs/'.length)) : rewriteRefs(item);
    }
    return out;
  }

  /** One schema, with refs to the named ones. */
  function convert(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
    const id = apiSchemas.get(schema)?.id;
    if (id && io === 'output') return { $ref: ref(id) };
    const json = z.toJSONSchema(schema, { io, metadata: io === 'output' ? withIds : z.globalRegistry, unrepresentable: 'any', reused: 'inline' });
    return rewriteRefs(json) as JsonSchema;
  }

  /** Every named schema, keyed by id (the `components.schemas` of a document). */
  function components(): Record<string, JsonSchema> {
    const all = z.toJSONSchema(apiSchemas, { io: 'output', metadata: withIds, unrepresentable: 'any', uri: ref });
    return Object.fromEntries(Object.entries(all.schemas).filter(([id]) => id !== '__shared').map(([id, schema]) => [id, rewriteRefs(schema) as JsonSchema]));
  }

  return { convert, components, ref };
}
