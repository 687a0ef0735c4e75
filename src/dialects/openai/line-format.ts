import { mistralLineFormat } from '../mistral/line-format.js';
import type { LineFormat } from '../types.js';

// PLACEHOLDER until the openai dialect lands: lines are read and written as Mistral's.
export const openaiLineFormat: LineFormat = mistralLineFormat;
