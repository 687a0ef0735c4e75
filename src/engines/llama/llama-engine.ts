import type { LlamaContextSequence, Token } from 'node-llama-cpp';
import type { ModelEntry } from '../../models/registry.js';
import type { Engine, EngineRequest, EngineResult, StreamPiece } from '../engine.js';
import { classifyRequest } from '../classification.js';
import { answerChat, completionBody, planChat, type ChatAnswer, type ChatPlan } from './chat-answer.js';
import { generate } from './generate.js';
import { acquireModel, closeAllModels, releaseModel, type LlamaOptions } from './loaded-model.js';
import { lendSequence } from './prefix-reuse.js';
import { contextTooLong, samplingOf } from './sampling.js';
import { toolModeOf } from './tools.js';

export { LLAMA_DEFAULTS, type LlamaOptions } from './loaded-model.js';

/**
 * The embedded engine: llama.cpp in-process. Chat and FIM run on a pool of parallel
 * sequences (continuous batching), embeddings on embedding contexts, moderation as a
 * guard classifier over the same chat model. Entries naming the same file share one
 * model and one pool; the first entry's options size them. `close()` is ref-counted.
 */
export async function createLlamaEngine(entry: ModelEntry, opts: LlamaOptions = {}): Promise<Engine> {
  if (!entry.path) throw new Error(`model ${entry.id}: engine "llama" needs "path" to a GGUF file`);
  const { key, model } = acquireModel(entry.path, opts);
  const rt = await model.catch(async (err: unknown) => {
    await releaseModel(key);
    throw err;
  });
  // /v1/models reports the context llama.cpp actually made (a GPU context may have shrunk to fit video memory).
  entry.context_length = rt.contextSize;

  // Chat and FIM take the sequence holding the longest start of their prompt (prefix-reuse.ts); the guard an empty one.
  const reuse = opts.prefixReuse !== false;
  const withSequence = <T>(req: EngineRequest, signal: AbortSignal, fn: (seq: LlamaContextSequence) => Promise<T>) =>
    lendSequence(rt.pool, { priority: req.priority, signal, prompt: null, reuse }, fn);

  async function complete(req: EngineRequest, signal: AbortSignal, onDelta?: (piece: StreamPiece) => void): Promise<EngineResult> {
    const sampling = samplingOf(req.body);
    const online = req.priority === 'online';
    const fim = req.endpoint === '/v1/fim/completions';
    let plan: ChatPlan | null = null;
    let tokens: Token[];
    if (fim) {
      tokens = await rt.tokenizer.fim(req.body.prompt, req.body.suffix, signal);
      if (tokens.length >= rt.contextSize) {
        throw contextTooLong(
          'prompt',
          `the prompt is ${tokens.length} tokens; this model's context holds ${rt.contextSize} tokens per request, prompt and completion together`,
        );
      }
    } else {
      const tools = toolModeOf(req.body);
      const prompt = await rt.tokenizer.chat(
        req.body.messages,
        { tools: tools.kind === 'none' ? [] : tools.tools.map((t) => t.spec), modelName: modelName(req) },
        signal,
      );
      plan = planChat(
        prompt,
        tools,
        rt.formatter,
        req.body,
        sampling,
        { name: modelName(req), reasons: entry.capabilities?.reasoning === true },
        rt.contextSize,
      );
      tokens = plan.prompt.tokens;
    }
    const prefix = plan?.prompt.prefix ?? '';
    const answers = await lendSequence(rt.pool, { priority: req.priority, signal, prompt: tokens, reuse }, async (seq) => {
      if (prefix) onDelta?.(prefix);
      const out: ChatAnswer[] = [];
      for (let choice = 0; choice < sampling.n; choice++) {
        if (choice > 0) await seq.clearHistory();
        const delta = choice === 0 ? onDelta : undefined;
        if (plan)
          out.push(await answerChat({ model: rt.model, formatter: rt.formatter, grammars: rt.grammars, seq, plan, choice, online, signal, onDelta: delta }));
        else {
          const g = await generate({
            model: rt.model,
            seq,
            prompt: tokens,
            sampling,
            limit: sampling.maxTokens ?? Infinity,
            choice,
            continuesPrefix: false,
            online,
            signal,
            onDelta: delta,
          });
          out.push({ text: g.text, thinking: null, toolCalls: null, finishReason: g.finishReason, completionTokens: g.completionTokens });
        }
      }
      return out;
    });
    const completion = answers.reduce((n, c) => n + c.completionTokens, 0);
    const usage = { prompt_tokens: tokens.length, completion_tokens: completion, total_tokens: tokens.length + completion };
    return { status_code: 200, usage, body: completionBody(modelName(req), answers, usage, prefix) };
  }

  /** The four classifier endpoints (moderation and classification), on the guard. */
  async function moderate(req: EngineRequest, signal: AbortSignal): Promise<EngineResult> {
    // One sequence per text, so the texts of one request are classified side by side.
    // Each text's prompts are tokenized before it takes a sequence (a large text off the event loop).
    return classifyRequest(req, modelName(req), (texts, labels) =>
      Promise.all(
        texts.map(async (text) => {
          const prompt = await rt.tokenizer.guard(text, labels, signal);
          return withSequence(req, signal, (seq) => rt.guard.score(seq, prompt, signal));
        }),
      ),
    );
  }

  const modelName = (req: EngineRequest) => (typeof req.body.model === 'string' && req.body.model ? req.body.model : entry.id);

  async function execute(req: EngineRequest, signal: AbortSignal): Promise<EngineResult> {
    switch (req.endpoint) {
      case '/v1/chat/completions':
      case '/v1/fim/completions':
        return complete(req, signal);
      case '/v1/embeddings':
        return (await rt.embedder()).embed(req.body, modelName(req), req.priority, signal);
      case '/v1/moderations':
      case '/v1/chat/moderations':
      case '/v1/classifications':
      case '/v1/chat/classifications':
        return moderate(req, signal);
    }
  }

  /** What complete() charges as prompt tokens, tokenized the same way but not run (job estimates). */
  async function countPromptTokens(req: EngineRequest, signal: AbortSignal): Promise<number | null> {
    if (req.endpoint === '/v1/fim/completions') return (await rt.tokenizer.fim(req.body.prompt, req.body.suffix, signal)).length;
    if (req.endpoint !== '/v1/chat/completions') return null;
    const tools = toolModeOf(req.body);
    const options = { tools: tools.kind === 'none' ? [] : tools.tools.map((t) => t.spec), modelName: modelName(req) };
    return (await rt.tokenizer.chat(req.body.messages, options, signal)).tokens.length;
  }

  let closed = false;
  return {
    // Four times the sequences: a queued request takes a freed sequence at once, without waiting on
    // the caller, and the pool chooses among the waiting lines the one sharing the longest prefix
    // with the freed sequence (bench/prefix-reuse.ts, 4 prompts on 2 sequences: grouped vs first
    // come first served 1.5× with 2 lines a sequence, 2.4× with 4). Online requests still go first
    // (sequence-pool.ts).
    maxInFlight: rt.sequences * 4,
    online: { pool: `llama:${key}`, parallel: rt.sequences },
    execute,
    countPromptTokens,
    stream: (req, signal, onDelta) =>
      req.endpoint === '/v1/chat/completions' || req.endpoint === '/v1/fim/completions' ? complete(req, signal, onDelta) : execute(req, signal),
    close: async () => {
      if (closed) return;
      closed = true;
      await releaseModel(key);
    },
  };
}

/** Disposes every loaded model and the native backend, whatever engines still hold them (shutdown, tests). */
export const closeAllLlama = closeAllModels;
