import { z } from 'zod';

/**
 * Routes that read a multipart/form-data body (they parse it themselves with
 * @fastify/multipart, so Fastify knows no body schema for them): the form they take.
 */
export const MULTIPART_FORMS: Record<string, z.ZodTypeAny> = {
  'POST /v1/files': z.object({
    file: z.string().describe('The file: JSONL for purpose batch, validated line by line while it streams.'),
    purpose: z.enum(['batch', 'fine-tune', 'ocr']).default('fine-tune').describe('fine-tune when the form has none, as on Mistral.'),
    visibility: z.enum(['workspace', 'user']).default('workspace'),
    expiry: z.number().int().min(1).max(8760).optional().describe('Hours until the file expires.'),
  }),
};

/** The part of a form that carries the file's bytes. */
export const FILE_PART = 'file';
