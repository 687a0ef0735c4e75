import { z } from 'zod';
import { metadataSchema } from './job-metadata.js';

/** Every ApiEndpoint the Mistral SDK knows; batchd runs those in ENDPOINTS (engines/engine.ts), the rest are refused as unsupported. */
export const KNOWN_ENDPOINTS = [
  '/v1/chat/completions',
  '/v1/embeddings',
  '/v1/fim/completions',
  '/v1/moderations',
  '/v1/chat/moderations',
  '/v1/ocr',
  '/v1/classifications',
  '/v1/chat/classifications',
  '/v1/conversations',
  '/v1/audio/transcriptions',
];

/** `CreateBatchJobRequest`: strict like Mistral's (additionalProperties: false → extra_forbidden). */
const createJobObject = z
  .object({
    input_files: z.array(z.string().min(1).max(200)).nullish(),
    requests: z.array(z.unknown()).nullish(),
    endpoint: z.string({ required_error: 'endpoint is required, e.g. "/v1/chat/completions"' }),
    model: z.string().min(1).max(200).nullish(),
    agent_id: z.string().min(1).max(200).nullish(),
    metadata: metadataSchema.nullish(),
    timeout_hours: z
      .number({ invalid_type_error: 'timeout_hours must be an integer number of hours' })
      .int('timeout_hours must be an integer number of hours')
      .min(1, 'timeout_hours must be from 1 to 168 (7 days)')
      .max(168, 'timeout_hours must be from 1 to 168 (7 days)')
      .default(24),
    // Beyond Mistral's fields (the Mistral SDK strips unknown fields, so priority and
    // webhook_url may also come as metadata.priority and metadata.webhook_url).
    priority: z.enum(['high', 'normal', 'low'], { message: 'priority must be one of high, normal, low' }).nullish(),
    webhook_url: z.string().min(1).max(2048, 'webhook_url may be at most 2048 characters').nullish(),
    /** Validate and estimate (api/job-estimate.ts) without creating the job. */
    dry_run: z.boolean().nullish(),
  })
  .strict();

/** The route's body schema: no body at all (Fastify passes null) is an empty object, refused for its missing endpoint. */
export const createJobSchema = z.preprocess((body) => body ?? {}, createJobObject);

export type CreateJobBody = z.output<typeof createJobObject>;
