import { aroundCalls, engineError, type EngineError, type Endpoint, type Engine } from './engine.js';

/**
 * Inputs one request asks about: embeddings and the four classifier endpoints take a
 * list (strings; conversations for the chat classifiers), each a separate unit of work.
 * Null for the completion endpoints and for shapes the engine itself will refuse.
 */
export function inputCount(endpoint: Endpoint, body: Record<string, unknown>): number | null {
  const input = body.input;
  switch (endpoint) {
    case '/v1/embeddings':
    case '/v1/moderations':
    case '/v1/classifications':
    case '/v1/chat/classifications':
      return Array.isArray(input) ? input.length : null;
    case '/v1/chat/moderations':
      // A list of conversations, or one conversation (a list of messages).
      return Array.isArray(input) && Array.isArray(input[0]) ? input.length : null;
    default:
      return null;
  }
}

/**
 * The request's inputs over the cap: a 400 naming it, the same online and in a batch
 * line's error record. 400, not 422: the list is well-formed (Mistral's schema sets no
 * maximum), this server only declines to take that many in one request, as OpenAI's
 * embeddings endpoint answers 400 past its 2,048 inputs.
 */
export function tooManyInputs(endpoint: Endpoint, count: number, max: number): EngineError {
  const message = `input has ${count} items; ${endpoint} takes at most ${max} inputs per request on this server: split them over several requests, or send them as a batch job (one line per request)`;
  return engineError('too_many_inputs', message, { param: 'input' });
}

/** Refuses requests with more than `max` inputs before the engine sees them (every engine kind, online and batch). */
export function capInputs(engine: Engine, max: number): Engine {
  return aroundCalls(engine, async (req, _signal, call) => {
    const count = inputCount(req.endpoint, req.body);
    if (count !== null && count > max) throw tooManyInputs(req.endpoint, count, max);
    return call();
  });
}
