// A leaf module: models/registry.ts needs the endpoint list and engines/engine.ts needs ModelEntry, so the list lives apart from both.

/** The endpoints a batch (or an online call) can target. */
export const ENDPOINTS = [
  '/v1/chat/completions',
  '/v1/embeddings',
  '/v1/fim/completions',
  '/v1/moderations',
  '/v1/chat/moderations',
  '/v1/classifications',
  '/v1/chat/classifications',
] as const;
export type Endpoint = (typeof ENDPOINTS)[number];
