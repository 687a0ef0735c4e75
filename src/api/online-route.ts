import type { FastifyReply } from 'fastify';
import type { Endpoint, Engine, EngineRequest } from '../engines/engine.js';

/** An online request: a JSON object naming its model; every other field is the engine's to judge. */
export type InferenceBody = Record<string, unknown> & { model: string };

/**
 * One online path (api/inference.ts serves them all alike: the model's checks, the gate, the
 * engine): how its body becomes the engine's request and the engine's answer its reply.
 */
export interface OnlineRoute {
  path: string;
  /** The engine endpoint that answers it. */
  endpoint: Endpoint;
  /** OpenAI's own path: every answer, errors included, in OpenAI's shapes. */
  openAi?: boolean;
  /** The client's body as the engine takes it; throws an ApiError (400) for what it cannot honour. */
  request(body: InferenceBody): InferenceBody;
  /** The engine's answer as the client's reply; `body` is the client's request. */
  answer(answer: Record<string, unknown>, body: InferenceBody): unknown;
  /** `stream: true` as server-sent events; without it the path answers whole. */
  stream?(reply: FastifyReply, engine: Engine, request: EngineRequest, signal: AbortSignal, body: InferenceBody): Promise<FastifyReply>;
}
