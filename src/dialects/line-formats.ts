import type { Endpoint } from '../engines/endpoints.js';
import type { ApiDialect, LineFormat } from './types.js';
import { mistralLineFormat } from './mistral/line-format.js';
import { openaiLineFormat } from './openai/line-format.js';
import { anthropicLineFormat } from './anthropic/line-format.js';

const FORMATS: Record<ApiDialect, LineFormat> = {
  mistral: mistralLineFormat,
  openai: openaiLineFormat,
  anthropic: anthropicLineFormat,
};

/** The line format of a job's dialect (an unknown value, from a newer store, reads as Mistral's), for its endpoint when given. */
export function lineFormatOf(dialect: string | null | undefined, endpoint?: Endpoint): LineFormat {
  const format = FORMATS[dialect as ApiDialect] ?? mistralLineFormat;
  return endpoint && format.forEndpoint ? format.forEndpoint(endpoint) : format;
}
