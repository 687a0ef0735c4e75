import { createHash, randomUUID } from 'node:crypto';
import type { ModelEntry } from '../models/registry.js';
import { engineError, type Engine, type EngineRequest, type EngineResult, type Usage } from './engine.js';
import { classifyRequest } from './classification.js';

const words = (s: string) => (s.match(/\S+/g) ?? []).length;

function lastUserText(body: Record<string, unknown>): string {
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    throw engineError('invalid_request', 'messages must be a non-empty array', { bodyMessage: 'messages: Field required', param: 'messages' });
  }
  const last = messages[messages.length - 1] as { content?: unknown };
  return typeof last?.content === 'string' ? last.content : JSON.stringify(last?.content ?? '');
}

function inputs(body: Record<string, unknown>): unknown[] {
  const input = body.input;
  if (input === undefined) {
    throw engineError('invalid_request', 'input is required', { bodyMessage: 'input: Field required', param: 'input' });
  }
  return Array.isArray(input) ? input : [input];
}

const usage = (prompt: number, completion: number): Usage => ({ prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion });

/**
 * The `echo` engine: answers at once without a model (chat and FIM echo the prompt,
 * embeddings are a hash, moderation and classification score 0). For dry runs of an
 * input file, for checking a pipeline end to end, and for measuring batchd's own overhead.
 */
export function createEchoEngine(model: ModelEntry): Engine {
  const execute = async (req: EngineRequest): Promise<EngineResult> => {
    const created = Math.floor(Date.now() / 1000);
    const name = typeof req.body.model === 'string' ? req.body.model : model.id;
    const completion = (text: string, prompt: number): EngineResult => {
      const u = usage(prompt, words(text));
      return {
        status_code: 200,
        usage: u,
        body: {
          id: randomUUID().replace(/-/g, ''),
          object: 'chat.completion',
          model: name,
          created,
          choices: [{ index: 0, message: { role: 'assistant', content: text, tool_calls: null }, finish_reason: 'stop' }],
          usage: u,
        },
      };
    };
    switch (req.endpoint) {
      case '/v1/chat/completions': {
        const text = lastUserText(req.body);
        return completion(text, words(text));
      }
      case '/v1/fim/completions': {
        const prompt = typeof req.body.prompt === 'string' ? req.body.prompt : '';
        return completion(prompt, words(prompt) + words(String(req.body.suffix ?? '')));
      }
      case '/v1/embeddings': {
        const list = inputs(req.body).map(String);
        const u = usage(
          list.reduce((n, s) => n + words(s), 0),
          0,
        );
        const data = list.map((s, index) => ({
          object: 'embedding',
          index,
          embedding: [...createHash('sha256').update(s).digest()].slice(0, 16).map((b) => b / 255 - 0.5),
        }));
        return { status_code: 200, usage: u, body: { id: randomUUID(), object: 'list', model: name, data, usage: u } };
      }
      case '/v1/moderations':
      case '/v1/chat/moderations':
      case '/v1/classifications':
      case '/v1/chat/classifications':
        // Every label scores 0 (nothing flagged); usage counts the input's words.
        return classifyRequest(req, name, async (texts, labels) => texts.map((t) => ({ scores: labels.map(() => 0), inputTokens: words(t) })));
    }
  };
  return { maxInFlight: model.max_in_flight, execute, close: async () => undefined };
}
