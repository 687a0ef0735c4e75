import type { ModelEntry } from '../../models/registry.js';
import { EngineError, type Engine, type EngineRequest, type EngineResult, type Usage } from '../engine.js';
import { clientFor } from '../http/upstream-client.js';
import { GUARD_SYSTEM_PROMPT, moderationResponse, moderationTexts, parseGuardScores } from '../moderation.js';
import { fromOpenAiCompletion, fromOpenAiEmbeddings, toOpenAiChat, toOpenAiEmbeddings, toOpenAiFim } from './translate.js';

export interface UpstreamEngineOptions {
  requestTimeoutMs?: number;
}

export const DEFAULT_UPSTREAM_TIMEOUT_MS = 10 * 60_000;

/**
 * An OpenAI-compatible server (vLLM, SGLang, llama.cpp server, Ollama, LiteLLM) behind
 * Mistral's request and response shapes. Moderation has no OpenAI counterpart, so the
 * model classifies as a guard: one chat call per text, asked for a JSON object of scores.
 */
export function createOpenAiEngine(model: ModelEntry, opts: UpstreamEngineOptions = {}): Engine {
  const client = clientFor(model, opts.requestTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS);
  const upstreamModel = model.upstream_model ?? model.id;

  async function moderate(req: EngineRequest, clientModel: string, signal: AbortSignal): Promise<EngineResult> {
    const texts = moderationTexts(req.endpoint, req.body);
    const usage: Usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
    const scores = [];
    for (const text of texts) {
      const res = await client.postJson('/chat/completions', {
        model: upstreamModel,
        temperature: 0,
        response_format: { type: 'json_object' },
        messages: [{ role: 'system', content: GUARD_SYSTEM_PROMPT }, { role: 'user', content: text }],
      }, signal);
      const { body, usage: u } = fromOpenAiCompletion(res.json, clientModel);
      const content = (body.choices as { message: { content: unknown } }[])[0]?.message.content ?? '';
      scores.push(parseGuardScores(typeof content === 'string' ? content : JSON.stringify(content)));
      usage.prompt_tokens += u.prompt_tokens;
      usage.completion_tokens += u.completion_tokens;
      usage.total_tokens += u.total_tokens;
    }
    return { status_code: 200, usage, body: moderationResponse(clientModel, scores, usage) };
  }

  return {
    maxInFlight: model.max_in_flight,
    async execute(req, signal) {
      const clientModel = typeof req.body.model === 'string' ? req.body.model : model.id;
      switch (req.endpoint) {
        case '/v1/chat/completions': {
          if (!Array.isArray(req.body.messages)) throw missing('messages');
          const res = await client.postJson('/chat/completions', toOpenAiChat(req.body, upstreamModel), signal);
          return { status_code: 200, ...fromOpenAiCompletion(res.json, clientModel) };
        }
        case '/v1/fim/completions': {
          if (typeof req.body.prompt !== 'string') throw missing('prompt');
          const res = await client.postJson('/completions', toOpenAiFim(req.body, upstreamModel), signal);
          return { status_code: 200, ...fromOpenAiCompletion(res.json, clientModel) };
        }
        case '/v1/embeddings': {
          if (req.body.input === undefined) throw missing('input');
          const res = await client.postJson('/embeddings', toOpenAiEmbeddings(req.body, upstreamModel), signal);
          return { status_code: 200, ...fromOpenAiEmbeddings(res.json, clientModel) };
        }
        default:
          return moderate(req, clientModel, signal);
      }
    },
    close: () => client.close(),
  };
}

/** A missing required field, in Mistral's 422 shape (the upstream is never called). */
export function missing(field: string) {
  const message = `${field}: Field required`;
  return new EngineError(message, false, 422, { object: 'error', message, type: 'invalid_request_error', param: field, code: null, detail: [{ loc: ['body', field], msg: 'Field required', type: 'missing' }] }, null, 'invalid_request');
}
