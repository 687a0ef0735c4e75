import { z } from 'zod';

/** Job metadata as stored and listed: string keys to string values. */
export type JobMetadata = Record<string, string>;

/**
 * A null-prototype copy of `entries`: `__proto__`, `constructor` and the like are data
 * here, as in Mistral's (Python) server, and no later `m[key] = value` can reach
 * Object.prototype.
 */
export function metadataObject(entries: Iterable<[string, string]>): JobMetadata {
  const m = Object.create(null) as JobMetadata;
  for (const [k, v] of entries) m[k] = v;
  return m;
}

const record = z
  .record(
    z.string().min(1, 'metadata keys must be 1-32 characters').max(32, 'metadata keys must be 1-32 characters'),
    z
      .string({ invalid_type_error: 'metadata values must be strings' })
      .min(1, 'metadata values must be 1-512 characters')
      .max(512, 'metadata values must be 1-512 characters'),
  )
  .refine((m) => Object.keys(m).length <= 64, 'metadata may have at most 64 keys');

/**
 * The create body's `metadata`, validated like z.record would, but kept whole: zod's
 * record output drops a `__proto__` key without a word (it validates it, then skips it
 * when building its plain-object result), so the result is built from the input instead.
 */
export const metadataSchema = z.unknown().transform((raw, ctx): JobMetadata => {
  const checked = record.safeParse(raw);
  if (!checked.success) {
    for (const issue of checked.error.issues) ctx.addIssue(issue);
    return z.NEVER;
  }
  return metadataObject(Object.entries(raw as Record<string, string>));
});
