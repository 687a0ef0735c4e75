import type { ModelEntry } from '../../models/registry.js';
import { asOnePiece, type Engine, type EngineRequest, type EngineResult } from '../engine.js';
import { streamable, streamCompletion } from '../http/completion-stream.js';
import { clientFor, type UpstreamEngineOptions } from '../http/upstream-client.js';
import { classifyRequest, type ClassifierLabel, type GuardVerdict } from '../classification.js';
import { guardChatBody, inputTokenShare, parseGuardAnswer } from '../moderation-guard.js';
import { fromOpenAiCompletion, fromOpenAiEmbeddings, toOpenAiChat, toOpenAiEmbeddings, toOpenAiFim } from './translate.js';

export type { UpstreamEngineOptions } from '../http/upstream-client.js';

/**
 * An OpenAI-compatible server (vLLM, SGLang, llama.cpp server, Ollama, LiteLLM) behind
 * Mistral's request and response shapes. Moderation and classification have no OpenAI
 * counterpart, so the model classifies as a guard: one chat call per text, asked for a
 * JSON object of scores.
 */
export function createOpenAiEngine(model: ModelEntry, opts: UpstreamEngineOptions = {}): Engine {
  const client = clientFor(model, opts);
  const upstreamModel = model.upstream_model ?? model.id;

  // One call at a time per request: a moderation line holds one of the runner's slots, so it may use one connection.
  async function guard(
    texts: string[],
    labels: ClassifierLabel[],
    clientModel: string,
    priority: EngineRequest['priority'],
    signal: AbortSignal,
  ): Promise<GuardVerdict[]> {
    const verdicts: GuardVerdict[] = [];
    for (const text of texts) {
      const body = guardChatBody(upstreamModel, text, labels);
      const res = fromOpenAiCompletion(await client.postJson('/chat/completions', body, signal, priority), clientModel);
      const content = (res.body.choices as { message: { content: unknown } }[])[0]?.message.content ?? '';
      const scores = parseGuardAnswer(typeof content === 'string' ? content : JSON.stringify(content), labels);
      verdicts.push({ scores, inputTokens: inputTokenShare(res.usage.prompt_tokens, text, body) });
    }
    return verdicts;
  }

  async function execute(req: EngineRequest, signal: AbortSignal): Promise<EngineResult> {
    // Responses name the model the client asked for, never the upstream's internal name.
    const clientModel = typeof req.body.model === 'string' ? req.body.model : model.id;
    switch (req.endpoint) {
      case '/v1/chat/completions':
        return {
          status_code: 200,
          ...fromOpenAiCompletion(await client.postJson('/chat/completions', toOpenAiChat(req.body, upstreamModel), signal, req.priority), clientModel),
        };
      case '/v1/fim/completions':
        return {
          status_code: 200,
          ...fromOpenAiCompletion(
            await client.postJson('/completions', toOpenAiFim(req.body, upstreamModel, model.fim_template), signal, req.priority),
            clientModel,
          ),
        };
      case '/v1/embeddings':
        return {
          status_code: 200,
          ...fromOpenAiEmbeddings(await client.postJson('/embeddings', toOpenAiEmbeddings(req.body, upstreamModel), signal, req.priority), clientModel),
        };
      case '/v1/moderations':
      case '/v1/chat/moderations':
      case '/v1/classifications':
      case '/v1/chat/classifications':
        return classifyRequest(req, clientModel, (texts, labels) => guard(texts, labels, clientModel, req.priority, signal));
    }
  }

  return {
    maxInFlight: model.max_in_flight,
    queueAhead: client.queueAhead,
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
