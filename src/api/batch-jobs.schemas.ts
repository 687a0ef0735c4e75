import { z } from 'zod';

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
export const createJobSchema = z
  .object({
    input_files: z.array(z.string().min(1).max(200)).nullish(),
    requests: z.array(z.unknown()).nullish(),
    endpoint: z.string({ required_error: 'endpoint is required, e.g. "/v1/chat/completions"' }),
    model: z.string().min(1).max(200).nullish(),
    agent_id: z.string().min(1).max(200).nullish(),
    metadata: z
      .record(
        z.string().min(1, 'metadata keys must be 1-32 characters').max(32, 'metadata keys must be 1-32 characters'),
        z.string({ invalid_type_error: 'metadata values must be strings' }).min(1, 'metadata values must be 1-512 characters').max(512, 'metadata values must be 1-512 characters'),
      )
      .refine((m) => Object.keys(m).length <= 64, 'metadata may have at most 64 keys')
      .nullish(),
    timeout_hours: z
      .number({ invalid_type_error: 'timeout_hours must be an integer number of hours' })
      .int('timeout_hours must be an integer number of hours')
      .min(1, 'timeout_hours must be from 1 to 168 (7 days)')
      .max(168, 'timeout_hours must be from 1 to 168 (7 days)')
      .default(24),
  })
  .strict();

export type CreateJobBody = z.infer<typeof createJobSchema>;
