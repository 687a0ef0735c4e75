import type { Limits } from '../config.js';
import { ENDPOINTS } from '../engines/engine.js';
import { apiError, type ApiError } from '../errors.js';

/** A route's JSON body cap and the variable that sets it (named in the 413). */
export interface BodyLimit {
  bytes: number;
  variable: string;
}

// OpenAI's /v1/completions (FIM) and /v1/responses take prompts too (Anthropic's routes set their own caps).
const ONLINE_ROUTES = new Set<string>([...ENDPOINTS, '/v1/completions', '/v1/responses']);

/**
 * The body cap of a route: online inference a few MB (a prompt, not a dataset), the job
 * create route more (up to 10,000 inline requests), every other JSON route little. The
 * upload route's multipart body is bounded by BATCHD_MAX_FILE_BYTES in the multipart
 * parser instead; a JSON body sent there gets the general cap.
 */
export function bodyLimitOf(method: string, url: string | undefined, limits: Limits): BodyLimit {
  if (method === 'POST' && url !== undefined && ONLINE_ROUTES.has(url)) return { bytes: limits.maxOnlineBodyBytes, variable: 'BATCHD_MAX_ONLINE_BODY_BYTES' };
  // The estimate route takes the same bodies as the create route.
  if (method === 'POST' && (url === '/v1/batch/jobs' || url === '/v1/batch/jobs/estimate'))
    return { bytes: limits.maxCreateBodyBytes, variable: 'BATCHD_MAX_CREATE_BODY_BYTES' };
  return { bytes: limits.maxJsonBodyBytes, variable: 'BATCHD_MAX_JSON_BODY_BYTES' };
}

export function bodyTooLarge(limit: BodyLimit): ApiError {
  const size = limit.bytes % (1024 * 1024) === 0 ? `${limit.bytes / (1024 * 1024)} MB` : `${limit.bytes} bytes`;
  return apiError('body_too_large', `Request body exceeds this route's limit of ${size} (${limit.bytes} bytes, set by ${limit.variable}).`);
}
