import type { FastifyReply } from 'fastify';
import { ApiError, apiError } from '../errors.js';
import { asOnePiece, EngineError, type Engine, type EngineRequest, type EngineResult, type StreamPiece } from '../engines/engine.js';

/**
 * An engine's failure as the online answer: a refusal keeps the engine's status and its
 * body's message, param and detail; a retryable failure is a 429 (rate limits) or a 503.
 * The catalogue gives the type (invalid_request_error, rate_limited, internal_error).
 */
export function engineToApiError(err: unknown): unknown {
  if (!(err instanceof EngineError)) return err;
  if (!err.retryable) {
    const body = (err.body && typeof err.body === 'object' ? err.body : {}) as Record<string, unknown>;
    const message = typeof body.message === 'string' ? body.message : err.message;
    return apiError(err.code, message, {
      status: err.statusCode,
      param: (body.param as string) ?? null,
      detail: Array.isArray(body.detail) ? body.detail : undefined,
    });
  }
  return apiError(err.code, err.message, { status: err.statusCode === 429 ? 429 : 503 });
}

/**
 * One streamed answer as server-sent events, in any dialect's event shapes. The status line
 * and headers go out with the first piece the engine generates (`open`), so a request the
 * engine refuses still gets a normal error answer; a failure after that can only end the
 * stream, with the dialect's error event.
 */
export class SseStream {
  private opened = false;

  constructor(
    private readonly reply: FastifyReply,
    /** Called once, right after the headers: the dialect's opening events. */
    private readonly onOpen: () => void = () => undefined,
  ) {}

  get isOpen() {
    return this.opened;
  }

  open() {
    if (this.opened) return;
    this.opened = true;
    this.reply.hijack();
    this.reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    this.onOpen();
  }

  write(text: string) {
    this.reply.raw.write(text);
  }

  end(text = '') {
    this.reply.raw.end(text);
  }

  /**
   * Runs the engine, handing each generated piece to `send` (engines without streaming give
   * the answer as one piece at the end). A failure before the stream opened is thrown; after
   * it, the stream ends with `errorEvent(failure)` and the result is null.
   */
  async run(engine: Engine, request: EngineRequest, signal: AbortSignal, send: (piece: StreamPiece) => void, errorEvent: (failure: ApiError) => string) {
    let result: EngineResult;
    try {
      result = engine.stream ? await engine.stream(request, signal, send) : await asOnePiece(engine.execute(request, signal), send);
    } catch (err) {
      if (!this.opened) throw err;
      const e = engineToApiError(err);
      this.end(errorEvent(e instanceof ApiError ? e : apiError('internal_error', 'generation failed')));
      return null;
    }
    this.open();
    return result;
  }
}
