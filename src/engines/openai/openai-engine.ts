import type { ModelEntry } from '../../models/registry.js';
import { asOnePiece, type Engine, type EngineRequest, type EngineResult, type Usage } from '../engine.js';
import { streamable, streamCompletion } from '../http/completion-stream.js';
import { clientFor, type UpstreamEngineOptions } from '../http/upstream-client.js';
import { guardChatBody, parseGuardScores } from '../moderation-guard.js';
import { moderationResponse, moderationTexts, type Scores } from '../moderation.js';
import { fromOpenAiCompletion, fromOpenAiEmbeddings, toOpenAiChat, toOpenAiEmbeddings, toOpenAiFim } from './translate.js';

export type { UpstreamEngineOptions } from '../http/upstream-client.js';

/**
 * An OpenAI-compatible server (vLLM, SGLang, llama.cpp server, Ollama, LiteLLM) behind
 * Mistral's request and response shapes. Moderation has no OpenAI counterpart, so the
 * model classifies as a guard: one chat call per text, asked for a JSON object of scores.
 */
export function createOpenAiEngine(model: ModelEntry, opts: UpstreamEngineOptions = {}): Engine {
  const client = clientFor(model, opts);
  const upstreamModel = model.upstream_model ?? model.id;

  // One call at a time per request: a moderation line holds one of the runner's slots, so it may use one connection.
  async function moderate(req: EngineRequest, clientModel: string, signal: AbortSignal): Promise<EngineResult> {
    const texts = moderationTexts(req.endpoint, req.body);
    const usage: Usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
    const scores: Scores[] = [];
    for (const text of texts) {
      const res = fromOpenAiCompletion(await client.postJson('/chat/completions', guardChatBody(upstreamModel, text), signal), clientModel);
      const content = (res.body.choices as { message: { content: unknown } }[])[0]?.message.content ?? '';
      scores.push(parseGuardScores(typeof content === 'string' ? content : JSON.stringify(content)));
      usage.prompt_tokens += res.usage.prompt_tokens;
      usage.completion_tokens += res.usage.completion_tokens;
      usage.total_tokens += res.usage.total_tokens;
    }
    return { status_code: 200, usage, body: moderationResponse(clientModel, scores, usage) };
  }

  async function execute(req: EngineRequest, signal: AbortSignal): Promise<EngineResult> {
    // Responses name the model the client asked for, never the upstream's internal name.
    const clientModel = typeof req.body.model === 'string' ? req.body.model : model.id;
    switch (req.endpoint) {
      case '/v1/chat/completions':
        return { status_code: 200, ...fromOpenAiCompletion(await client.postJson('/chat/completions', toOpenAiChat(req.body, upstreamModel), signal), clientModel) };
      case '/v1/fim/completions':
        return { status_code: 200, ...fromOpenAiCompletion(await client.postJson('/completions', toOpenAiFim(req.body, upstreamModel, model.fim_template), signal), clientModel) };
      case '/v1/embeddings':
        return { status_code: 200, ...fromOpenAiEmbeddings(await client.postJson('/embeddings', toOpenAiEmbeddings(req.body, upstreamModel), signal), clientModel) };
      case '/v1/moderations':
      case '/v1/chat/moderations':
        return moderate(req, clientModel, signal);
    }
  }

  return {
    maxInFlight: model.max_in_flight,
    execute,
    async stream(req, signal, onDelta) {
      if (!streamable(req)) return asOnePiece(execute(req, signal), onDelta);
      const clientModel = typeof req.body.model === 'string' ? req.body.model : model.id;
      const [path, body] =
        req.endpoint === '/v1/chat/completions'
          ? ['/chat/completions', toOpenAiChat(req.body, upstreamModel)]
          : ['/completions', toOpenAiFim(req.body, upstreamModel, model.fim_template)];
      // include_usage: the last chunk carries the token counts (vLLM, SGLang, llama.cpp server, Ollama, OpenAI).
      const raw = await streamCompletion(client, path, { ...body, stream_options: { include_usage: true } }, signal, onDelta);
      return { status_code: 200, ...fromOpenAiCompletion(raw, clientModel) };
    },
    close: () => client.close(),
  };
}
