import { z } from 'zod';
// Imported rather than read from disk so that tsc copies the file into dist/ beside this module.
import catalogueJson from './mistral-models.json' with { type: 'json' };

/**
 * Mistral's public models as Mistral describes them (generated from Mistral's docs
 * repository by scripts/refresh-mistral-models.ts): names, capabilities, context, prices
 * and deprecation. What batchd itself serves under these names is the registry's business.
 */

/** Mistral's capability flags; batchd uses the same ones for what it serves. */
export const mistralCapabilitiesSchema = z
  .object({
    completion_chat: z.boolean(),
    completion_fim: z.boolean(),
    function_calling: z.boolean(),
    structured_outputs: z.boolean(),
    vision: z.boolean(),
    reasoning: z.boolean(),
    classification: z.boolean(),
    moderation: z.boolean(),
  })
  .strict();

const isoDay = z.string().regex(/^\d{4}-\d{2}-\d{2}$/);

const modelSchema = z
  .object({
    id: z.string().min(1),
    aliases: z.array(z.string().min(1)),
    name: z.string(),
    type: z.enum(['chat', 'embedding', 'moderation']),
    status: z.enum(['GA', 'PublicPreview', 'Deprecated']),
    released: isoDay.nullable(),
    description: z.string(),
    capabilities: mistralCapabilitiesSchema,
    max_context_length: z.number().int().positive(),
    embedding_dimension: z.number().int().positive().optional(),
    input_price_per_mtok: z.number().nonnegative(),
    output_price_per_mtok: z.number().nonnegative(),
    deprecation: z
      .object({
        deprecated_on: isoDay.nullable(),
        /** The day Mistral stops answering the model (404 afterwards). */
        retires_on: isoDay.nullable(),
        /** Canonical id of the model Mistral recommends instead. */
        replacement: z.string().nullable(),
        replacement_name: z.string().nullable(),
      })
      .strict()
      .nullable(),
    docs_card: z.string(),
  })
  .strict()
  .superRefine((m, ctx) => {
    if ((m.type === 'embedding') !== (m.embedding_dimension !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['embedding_dimension'], message: 'embedding models, and only they, have a dimension' });
    }
  });

const fileSchema = z
  .object({
    source: z.object({ repository: z.string().url(), commit: z.string().regex(/^[0-9a-f]{40}$/) }).passthrough(),
    extra_aliases: z.array(z.object({ alias: z.string(), target: z.string(), evidence: z.string() }).strict()),
    models: z.array(modelSchema).min(1),
  })
  .strict();

export type MistralCapabilities = z.infer<typeof mistralCapabilitiesSchema>;
export type CatalogueModel = z.infer<typeof modelSchema>;
export type ModelType = CatalogueModel['type'];
export type CatalogueSource = z.infer<typeof fileSchema>['source'];

export interface Catalogue {
  source: CatalogueSource;
  models: CatalogueModel[];
  /** Looks a model up by its canonical id or any alias. */
  get(name: string): CatalogueModel | undefined;
}

/** Checks a catalogue document (ids and aliases must name one model each). */
export function parseCatalogue(doc: unknown): Catalogue {
  const file = fileSchema.parse(doc);
  const byName = new Map<string, CatalogueModel>();
  for (const m of file.models) {
    for (const name of [m.id, ...m.aliases]) {
      const other = byName.get(name);
      if (other) throw new Error(`mistral-models.json: ${name} names both ${other.id} and ${m.id}`);
      byName.set(name, m);
    }
  }
  return { source: file.source, models: file.models, get: (name) => byName.get(name) };
}

let loaded: Catalogue | undefined;

/** Mistral's models as shipped with batchd (parsed once). */
export function mistralCatalogue(): Catalogue {
  loaded ??= parseCatalogue(catalogueJson);
  return loaded;
}
